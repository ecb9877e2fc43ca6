/**
 * The sandbox's state in its state directory, so that a restart keeps emulated Azure, as Azurite
 * keeps its blobs and queues. Each store exposes its data as keyed JSON records (a
 * `PersistentCollection`); this file keeps them on disk as a snapshot plus an append-only journal:
 *
 * - `state.json`: every record, with the sequence number of the last change it holds and the port
 *   it was written with. Written to `state.json.tmp`, flushed to disk, then renamed over the old
 *   one: a reader sees the old snapshot or the new one, never half of one.
 * - `state.journal`: one JSON line per request that changed something, holding that request's
 *   changed records in full (`[collection, key, value]`) and removed keys (`[collection, key]`).
 *   It is appended (one write) before the request is answered, so an answer the client got is
 *   on disk; a process killed in the middle of an append leaves a torn last line, which is
 *   dropped (that request was never answered). A damaged line anywhere else is an error.
 *
 * What a request changed is found by comparing each record's JSON with what was written last:
 * stores that hand out records for in-place changes (ARM's resources, its operations, blob
 * accounts) name the keys they handed out or wrote since the last flush, and stores that change
 * only through their own requests (Graph, Key Vault, the directory) say whether they were asked
 * at all, so a request costs the JSON of the records it touched and one small append, not a
 * rewrite of everything. The journal
 * is folded into a new snapshot at start, at stop, and whenever it outgrows the snapshot (and 1
 * MB), which keeps the amortised cost per change constant.
 *
 * Not fsynced per request: the state survives the process being killed at any moment (the
 * kernel has the bytes), not the machine losing power mid-write (the last requests may be lost,
 * nothing is corrupted: the snapshot is fsynced before it replaces the old one).
 */
import fs from "node:fs";
import path from "node:path";

/** One store's data as records: what persistence asks of every store. */
export interface PersistentCollection {
  /** Unique across the sandbox, stable across versions: it names the records on disk. */
  readonly name: string;
  /** Every record now: key -> JSON-able value (Buffers and non-finite numbers are kept as such). */
  entries(): Iterable<[string, unknown]>;
  /**
   * Keys that may have changed since the last call (handed out for in-place changes, written or
   * deleted), for stores that track them; with `peek`. Without it, every record is compared.
   */
  takeTouched?(): Iterable<string>;
  /** The record of a key now (undefined: gone), without marking it touched. */
  peek?(key: string): unknown;
  /**
   * Whether anything may have changed since the last call (a `ChangeMark`), for stores that
   * change only through their own requests: when false, the collection is not compared at all.
   */
  dirty?(): boolean;
  /** Replace the store's data with the records read from disk (at start, before any request). */
  load(records: Map<string, unknown>): void;
}

/**
 * A store's change counter: the store bumps it whenever it may have changed something (a request
 * to it, an in-process change); each of its collections gets a `dirty` that says whether it moved
 * since that collection last asked.
 */
export class ChangeMark {
  private version = 1;

  bump(): void {
    this.version++;
  }

  tracker(): () => boolean {
    let seen = 0;
    return () => {
      const moved = seen !== this.version;
      seen = this.version;
      return moved;
    };
  }
}

export const SNAPSHOT_FILE = "state.json";
export const JOURNAL_FILE = "state.journal";
const FORMAT = 1;
const BUFFER = "$sandbox:buffer";
const NUMBER = "$sandbox:number";
/** The journal is folded into the snapshot once it is larger than this and than the snapshot. */
const COMPACT_AFTER_BYTES = 1 << 20;

/** JSON of a record, with Buffers (base64) and non-finite numbers (a seed's -Infinity) kept. */
export function encodeRecord(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, current: unknown) {
    if (typeof current === "number") return Number.isFinite(current) ? current : { [NUMBER]: String(current) };
    if (current === null || typeof current !== "object") return current;
    const raw = this[key];
    if (Buffer.isBuffer(raw)) return { [BUFFER]: raw.toString("base64") };
    if (current instanceof Map || current instanceof Set)
      throw new TypeError(`Sandbox state: '${key}' is a ${current.constructor.name}, which records cannot hold.`);
    return current;
  });
}

function revive(_key: string, value: unknown): unknown {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (typeof record[BUFFER] === "string" && Object.keys(record).length === 1)
      return Buffer.from(record[BUFFER], "base64");
    if (typeof record[NUMBER] === "string" && Object.keys(record).length === 1) return Number(record[NUMBER]);
  }
  return value;
}

export function decodeRecords(text: string): unknown {
  return JSON.parse(text, revive);
}

interface Snapshot {
  format: number;
  seq: number;
  port?: number;
  collections: Record<string, Record<string, unknown>>;
}

interface JournalEntry {
  seq: number;
  ops: ([string, string] | [string, string, unknown])[];
}

export interface StateFileStats {
  /** Sequence number of the last change written. */
  seq: number;
  journalBytes: number;
  snapshotBytes: number;
  /** Journal lines appended by this process. */
  appends: number;
  compactions: number;
}

/** Host names with the port in them (vault URIs, blob endpoints): rewritten when the port changes. */
const portPattern = (port: number) => new RegExp(`(\\.sandbox\\.localhost):${port}(?!\\d)`, "g");

export class SandboxStateFiles {
  /** The JSON last written of every record, per collection: what a flush compares against. */
  private readonly written = new Map<string, Map<string, string>>();
  private readonly byName = new Map<string, PersistentCollection>();
  private journal?: number;
  private closed = false;
  private readonly stats: StateFileStats = { seq: 0, journalBytes: 0, snapshotBytes: 0, appends: 0, compactions: 0 };
  /** The port the sandbox listens on (host names in the state carry it). */
  port = 0;

  constructor(
    readonly dir: string,
    private readonly collections: PersistentCollection[],
  ) {
    for (const collection of collections) {
      if (this.byName.has(collection.name)) throw new Error(`Sandbox state: two collections named ${collection.name}.`);
      this.byName.set(collection.name, collection);
      this.written.set(collection.name, new Map());
    }
  }

  get snapshotFile(): string {
    return path.join(this.dir, SNAPSHOT_FILE);
  }

  get journalFile(): string {
    return path.join(this.dir, JOURNAL_FILE);
  }

  /**
   * Read the state directory into the stores (snapshot, then the journal's later changes; host
   * names moved to `port` if the state was written on another one). Returns false when the
   * directory held no state (a first start). Nothing is written until `compact()`, which the
   * caller runs once the stores are ready (seeded on a first start): a start killed before that
   * is a first start again.
   */
  load(port: number): boolean {
    this.port = port;
    fs.mkdirSync(this.dir, { recursive: true });
    const snapshotText = readIfThere(this.snapshotFile);
    const journalText = readIfThere(this.journalFile);
    const found = snapshotText !== undefined || Boolean(journalText);
    let snapshot: Snapshot = { format: FORMAT, seq: 0, collections: {} };
    let fromPort: number | undefined;
    if (snapshotText !== undefined) {
      snapshot = this.parseSnapshot(snapshotText);
      fromPort = snapshot.port;
      if (fromPort !== undefined && fromPort !== port)
        snapshot = this.parseSnapshot(snapshotText.replace(portPattern(fromPort), `$1:${port}`));
    }
    const records = new Map<string, Map<string, unknown>>();
    for (const [name, entries] of Object.entries(snapshot.collections))
      records.set(name, new Map(Object.entries(entries)));
    let seq = snapshot.seq;
    if (journalText) {
      const text =
        fromPort !== undefined && fromPort !== port
          ? journalText.replace(portPattern(fromPort), `$1:${port}`)
          : journalText;
      const lines = text.split("\n");
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i]) continue;
        let entry: JournalEntry;
        try {
          entry = decodeRecords(lines[i]) as JournalEntry;
        } catch {
          // The last line without its newline: an append the process did not finish (never answered).
          if (i === lines.length - 1) break;
          throw new Error(
            `Sandbox state: ${this.journalFile} line ${i + 1} is damaged (not an interrupted last write). Move the state directory aside to start over.`,
          );
        }
        if (entry.seq <= seq) continue;
        for (const op of entry.ops) {
          let collection = records.get(op[0]);
          if (!collection) records.set(op[0], (collection = new Map()));
          if (op.length === 2) collection.delete(op[1]);
          else collection.set(op[1], op[2]);
        }
        seq = entry.seq;
      }
    }
    this.stats.seq = seq;
    // Collections the state does not name (new since it was written) keep what they start with.
    for (const [name, collectionRecords] of records) this.byName.get(name)?.load(collectionRecords);
    this.journal = fs.openSync(this.journalFile, "a", 0o600);
    return found;
  }

  private parseSnapshot(text: string): Snapshot {
    let snapshot: Snapshot;
    try {
      snapshot = decodeRecords(text) as Snapshot;
    } catch (error) {
      throw new Error(
        `Sandbox state: ${this.snapshotFile} cannot be read (${(error as Error).message}). Move the state directory aside to start over.`,
      );
    }
    if (snapshot.format !== FORMAT)
      throw new Error(
        `Sandbox state: ${this.snapshotFile} has format ${snapshot.format}, this sandbox reads ${FORMAT}.`,
      );
    return snapshot;
  }

  /** Append what changed since the last flush (one journal line); returns how many records changed. */
  flush(): number {
    if (this.closed || this.journal === undefined) return 0;
    const ops: string[] = [];
    for (const collection of this.collections) this.compare(collection, ops);
    if (ops.length === 0) return 0;
    const line = `{"seq":${++this.stats.seq},"ops":[${ops.join(",")}]}\n`;
    fs.writeSync(this.journal, line);
    this.stats.journalBytes += Buffer.byteLength(line);
    this.stats.appends++;
    if (this.stats.journalBytes > Math.max(COMPACT_AFTER_BYTES, this.stats.snapshotBytes)) this.compact();
    return ops.length;
  }

  /**
   * Compare a collection's records with what was written; push journal ops for the differences.
   * Comparing everything returns the keys in the store's own order (snapshots keep it).
   */
  private compare(collection: PersistentCollection, ops: string[] | undefined, everything = false): string[] {
    const written = this.written.get(collection.name)!;
    const name = JSON.stringify(collection.name);
    const record = (key: string, value: unknown) => {
      if (value === undefined) {
        if (written.delete(key)) ops?.push(`[${name},${JSON.stringify(key)}]`);
        return;
      }
      const json = encodeRecord(value);
      if (written.get(key) === json) return;
      written.set(key, json);
      ops?.push(`[${name},${JSON.stringify(key)},${json}]`);
    };
    const moved = collection.dirty?.() ?? true;
    if (!moved && !everything) return [];
    const touched = collection.takeTouched?.();
    if (touched && collection.peek && !everything) {
      for (const key of touched) record(key, collection.peek(key));
      return [];
    }
    const seen = new Set<string>();
    for (const [key, value] of collection.entries()) {
      seen.add(key);
      record(key, value);
    }
    for (const key of [...written.keys()]) if (!seen.has(key)) record(key, undefined);
    return [...seen];
  }

  /** Write every record as a new snapshot (temp file, fsync, rename), then empty the journal. */
  compact(): void {
    if (this.closed || this.journal === undefined) return;
    const parts: string[] = [];
    for (const collection of this.collections) {
      const written = this.written.get(collection.name)!;
      const entries = this.compare(collection, undefined, true).map(
        (key) => `${JSON.stringify(key)}:${written.get(key)}`,
      );
      parts.push(`${JSON.stringify(collection.name)}:{${entries.join(",")}}`);
    }
    const text = `{"format":${FORMAT},"seq":${this.stats.seq},"port":${this.port},"savedAt":${JSON.stringify(new Date().toISOString())},"collections":{${parts.join(",")}}}\n`;
    writeFileAtomic(this.snapshotFile, text);
    fs.ftruncateSync(this.journal, 0);
    this.stats.journalBytes = 0;
    this.stats.snapshotBytes = Buffer.byteLength(text);
    this.stats.compactions++;
  }

  /** Flush, fold into the snapshot, and stop writing (later flushes do nothing). */
  close(): void {
    if (this.closed || this.journal === undefined) return;
    this.flush();
    this.compact();
    fs.closeSync(this.journal);
    this.closed = true;
  }

  info(): StateFileStats {
    return { ...this.stats };
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Write a file so that a reader (or a restart after a kill) sees the old content or the new, never part of it. */
export function writeFileAtomic(file: string, content: string, mode = 0o600): void {
  const temporary = `${file}.tmp`;
  const fd = fs.openSync(temporary, "w", mode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}
