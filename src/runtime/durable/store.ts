/**
 * Instance state on disk: one journal file per instance (`<id>.jsonl`). A save appends one line
 * with the history events added since the last save and the instance's other (small) fields, so
 * persisting an event costs that event, not the whole history; the file is rewritten as a single
 * snapshot line (temp file + rename) when the history starts over (continue-as-new, a restart of
 * the id), when the input changes, and every COMPACT_AFTER lines. A host killed mid-append leaves
 * a torn last line, which is dropped on load: that save never happened, and nothing it implied
 * was dispatched (the engine saves before it dispatches).
 */
import fs from "node:fs";
import path from "node:path";
import type { InstanceState } from "./types";

/** Appended lines before the journal is rewritten as one snapshot. */
const COMPACT_AFTER = 500;

type Head = Omit<InstanceState, "history" | "input">;
type Line = { snapshot: InstanceState } | { head: Head; events: InstanceState["history"] };

interface Written {
  executionId: string;
  historyLength: number;
  input: unknown;
  lines: number;
}

export class InstanceStore {
  private readonly dir: string;
  /** What each instance's journal holds, so a save appends only what is new. */
  private readonly written = new Map<string, Written>();

  constructor(stateDir: string, hubName: string) {
    this.dir = path.join(stateDir, "durable", hubName, "instances");
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private fileFor(instanceId: string): string {
    return path.join(this.dir, `${encodeURIComponent(instanceId)}.jsonl`);
  }

  /** A state file of a host version before journals (one JSON document). */
  private legacyFileFor(instanceId: string): string {
    return path.join(this.dir, `${encodeURIComponent(instanceId)}.json`);
  }

  save(state: InstanceState): void {
    const file = this.fileFor(state.instanceId);
    const written = this.written.get(state.instanceId);
    const { history, input, ...head } = state;
    if (
      written &&
      written.executionId === state.executionId &&
      written.input === input &&
      history.length >= written.historyLength &&
      written.lines < COMPACT_AFTER &&
      fs.existsSync(file)
    ) {
      const line: Line = { head, events: history.slice(written.historyLength) };
      fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
      written.historyLength = history.length;
      written.lines++;
      return;
    }
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, `${JSON.stringify({ snapshot: state } satisfies Line)}\n`);
    fs.renameSync(temp, file);
    fs.rmSync(this.legacyFileFor(state.instanceId), { force: true });
    this.written.set(state.instanceId, {
      executionId: state.executionId,
      historyLength: history.length,
      input,
      lines: 1,
    });
  }

  load(instanceId: string): InstanceState | undefined {
    const file = this.fileFor(instanceId);
    if (fs.existsSync(file)) return this.read(file, instanceId);
    const legacy = this.legacyFileFor(instanceId);
    return fs.existsSync(legacy) ? (JSON.parse(fs.readFileSync(legacy, "utf8")) as InstanceState) : undefined;
  }

  private read(file: string, instanceId: string): InstanceState | undefined {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    let state: InstanceState | undefined;
    let count = 0;
    for (const [index, text] of lines.entries()) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch (error) {
        // A torn last line: that save never completed.
        if (index >= lines.length - 2) break;
        throw new Error(`${file}: line ${index + 1} is damaged: ${(error as Error).message}`, { cause: error });
      }
      count++;
      if ("snapshot" in line) state = line.snapshot;
      else if (state) {
        const history = state.history;
        const input = state.input;
        state = { ...(line.head as InstanceState), history, input };
        history.push(...line.events);
      }
    }
    if (state)
      this.written.set(instanceId, {
        executionId: state.executionId,
        historyLength: state.history.length,
        input: state.input,
        // The next save of a loaded state starts a new journal: its input is another object now.
        lines: count,
      });
    return state;
  }

  delete(instanceId: string): boolean {
    this.written.delete(instanceId);
    let deleted = false;
    for (const file of [this.fileFor(instanceId), this.legacyFileFor(instanceId)]) {
      if (!fs.existsSync(file)) continue;
      fs.rmSync(file);
      deleted = true;
    }
    return deleted;
  }

  /** Instance ids with a state file. */
  ids(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((name) => name.endsWith(".jsonl") || name.endsWith(".json"))
      .map((name) => decodeURIComponent(name.replace(/\.jsonl?$/, "")))
      .filter((id, index, all) => all.indexOf(id) === index);
  }

  loadAll(): InstanceState[] {
    return this.ids()
      .map((id) => this.load(id))
      .filter((state): state is InstanceState => state !== undefined);
  }

  /** Bytes of an instance's state file (the bench reports the largest). */
  sizeOf(instanceId: string): number {
    const file = this.fileFor(instanceId);
    return fs.existsSync(file) ? fs.statSync(file).size : 0;
  }
}
