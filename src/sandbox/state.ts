/**
 * State the sandbox's services share: the clock (so tests can move time for replication delays,
 * soft-delete retention and LRO progress) and the directory of Entra principals (Graph creates
 * service principals and groups, Managed Identity creates identities' service principals, ARM's
 * role assignments look them up).
 */
import { ChangeMark } from "./persistence";
import { noteGate } from "./timings";

export interface SandboxClock {
  now(): number;
}

export const systemClock: SandboxClock = { now: () => Date.now() };

/** A clock tests can move forward. */
export class ManualClock implements SandboxClock {
  constructor(private current = Date.now()) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

export type PrincipalKind = "ServicePrincipal" | "Group" | "User";

export interface DirectoryPrincipal {
  /** Object id (GUID). */
  id: string;
  kind: PrincipalKind;
  displayName?: string;
  /** Clock time the object was created: until `replicationDelayMs` later it is invisible to lookups. */
  createdAt: number;
}

export class SandboxDirectory {
  private readonly principals = new Map<string, DirectoryPrincipal>();
  /** Bumped on every add and remove (persistence compares the principals only then). */
  readonly changes = new ChangeMark();

  constructor(
    private readonly clock: SandboxClock,
    /** Entra replication delay: how long a new object stays invisible to reads (fault, default 0). */
    public replicationDelayMs = 0,
  ) {}

  /** `createdAt` defaults to now; objects the sandbox starts with pass -Infinity (visible at once). */
  add(principal: Omit<DirectoryPrincipal, "createdAt">, createdAt = this.clock.now()): DirectoryPrincipal {
    const record = { ...principal, id: principal.id.toLowerCase(), createdAt };
    this.principals.set(record.id, record);
    this.changes.bump();
    return record;
  }

  remove(id: string): void {
    this.principals.delete(id.toLowerCase());
    this.changes.bump();
  }

  /** The principal as a directory read sees it: undefined if unknown or not yet replicated. */
  lookup(id: string): DirectoryPrincipal | undefined {
    const principal = this.principals.get(id.toLowerCase());
    if (!principal) return undefined;
    const visible = this.clock.now() - principal.createdAt >= this.replicationDelayMs;
    if (Number.isFinite(principal.createdAt))
      noteGate({ kind: "replication", originAt: principal.createdAt, delayMs: this.replicationDelayMs, open: visible });
    return visible ? principal : undefined;
  }

  /** The principal regardless of replication (for the inspection API and tests). */
  get(id: string): DirectoryPrincipal | undefined {
    return this.principals.get(id.toLowerCase());
  }

  all(): DirectoryPrincipal[] {
    return [...this.principals.values()];
  }

  /** Every principal by id (persistence). */
  entries(): IterableIterator<[string, DirectoryPrincipal]> {
    return this.principals.entries();
  }

  load(records: Map<string, unknown>): void {
    this.principals.clear();
    for (const [id, principal] of records) this.principals.set(id, principal as DirectoryPrincipal);
  }
}
