/**
 * Instance state on disk: one JSON file per instance, written atomically (temp file + rename) so
 * a host killed at any point finds either the old or the new state, never half of one.
 */
import fs from "node:fs";
import path from "node:path";
import type { InstanceState } from "./types";

export class InstanceStore {
  private readonly dir: string;

  constructor(stateDir: string, hubName: string) {
    this.dir = path.join(stateDir, "durable", hubName, "instances");
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private fileFor(instanceId: string): string {
    return path.join(this.dir, `${encodeURIComponent(instanceId)}.json`);
  }

  save(state: InstanceState): void {
    const file = this.fileFor(state.instanceId);
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(state));
    fs.renameSync(temp, file);
  }

  load(instanceId: string): InstanceState | undefined {
    const file = this.fileFor(instanceId);
    if (!fs.existsSync(file)) return undefined;
    return JSON.parse(fs.readFileSync(file, "utf8")) as InstanceState;
  }

  delete(instanceId: string): boolean {
    const file = this.fileFor(instanceId);
    if (!fs.existsSync(file)) return false;
    fs.rmSync(file);
    return true;
  }

  loadAll(): InstanceState[] {
    return fs
      .readdirSync(this.dir)
      .filter((name) => name.endsWith(".json"))
      .map((name) => JSON.parse(fs.readFileSync(path.join(this.dir, name), "utf8")) as InstanceState);
  }
}
