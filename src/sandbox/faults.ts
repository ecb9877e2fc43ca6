/**
 * Faults on demand: ARM's throttling token buckets, transient errors and connection resets at a
 * rate, latency per resource type, LRO durations and failures, Graph replication delay,
 * PrincipalNotFound for principals ARM cannot see yet, and RBAC propagation delay. Settings are
 * live: tests change them between steps with `sandbox.setFaults()`.
 */
import type { ArmOperationKind, SandboxService } from "./types";

export interface SandboxFaultSettings {
  /** Multiplies ARM bucket sizes and refill rates (1 = Azure's numbers; 0.01 exercises 429s). 0 disables throttling. */
  throttleScale: number;
  /** Probability (0..1) that a request fails with 500/503 or a reset connection. */
  transientRate: number;
  transientKinds: ("500" | "503" | "reset")[];
  /** Services the transient faults apply to (default: all). */
  transientServices?: SandboxService[];
  /** Only write/delete requests get transient faults (reads stay clean). */
  transientWritesOnly: boolean;
  /**
   * Lose the answer to the Nth write request (PUT, PATCH, POST, DELETE) from now: the service
   * does the write, then the connection drops before the response. What a client sees when its
   * process or network dies at the worst moment; the test of every "did my create happen?" path.
   * 0 = off. One-shot: it resets to 0 once it has fired.
   */
  loseResponseOfWrite: number;
  /**
   * Requests that fail with 500 before the service does anything, `times` times each (counting
   * down): a request matches when its method is `method` (any, when absent) and its path contains
   * `path`. A test's way to fail one exact call, such as the purge of one deleted object.
   */
  failRequests: { method?: string; path: string; times: number }[];
  /** Seed for the fault PRNG, so a failing test run is reproducible. */
  seed: number;
  /** Extra response latency per ARM resource type (ms), plus a default for everything. */
  latencyMs: Record<string, number>;
  defaultLatencyMs: number;
  /** Scales all latencies (and LRO durations). */
  latencyScale: number;
  /** How long an LRO stays InProgress per resource type (clock ms). */
  lroDurationMs: Record<string, number>;
  defaultLroDurationMs: number;
  /** Probability an LRO of that type ends Failed. */
  lroFailure: Record<string, number>;
  /** Entra replication delay: new Graph objects and identities are invisible to reads this long. */
  graphReplicationDelayMs: number;
  /** ARM answers PrincipalNotFound for assignments without principalType whose principal it cannot see yet. */
  principalNotFoundWithoutType: boolean;
  /**
   * Azure RBAC propagation: a role assignment takes effect for data-plane checks (Key Vault,
   * blob, Key Vault references) this long after it was created (clock ms, scaled by
   * `latencyScale` like LRO durations). Azure documents up to ~10 minutes; meanwhile 403.
   */
  rbacPropagationMs: number;
  /**
   * Container Apps revisions: how long a new revision takes from created to ready (image pull,
   * init containers, start-up and readiness probes), in clock ms scaled by `latencyScale`. 0 = a
   * revision is ready as soon as its app is provisioned. Meanwhile it is `Activating` and the
   * previous revision keeps the traffic (Single revision mode).
   */
  revisionStartMs: number;
  /**
   * Images whose revisions never become ready: their readiness probe keeps failing (the revision
   * stays `Activating`, health `Unhealthy`, without traffic), so a test can fail an upgrade's
   * health gate or a wave's canary on purpose. Exact image references, e.g. `ghcr.io/openclaw/openclaw:2026.9.99`,
   * or `{image, resourceGroups}` for that image in those resource groups only (some slugs of a wave).
   */
  unhealthyImages: (string | { image: string; resourceGroups: string[] })[];
  /**
   * Entra's quota of directory objects the broker's principal may create: 250, as in Entra
   * (about 50 slugs: each makes its sign-in app, its service principal and its group, and the
   * bot's app and principal with Teams). Raising it departs from Azure: only for tests and the
   * bench that need a larger fleet than one principal can have (docs/operations.md, "Fleet size").
   */
  directoryObjectQuota?: number;
  /**
   * Container Apps environments one subscription may have in one region: 15 by default in Azure
   * (a quota request raises it). The 16th create is refused.
   */
  environmentsPerRegion?: number;
  /** Role assignments one subscription may hold (every scope in it): 4,000 in Azure. */
  roleAssignmentsPerSubscription?: number;
  /** A new Container Apps replica starts (NotRunning, not ready) this long before it runs (clock ms, scaled by `latencyScale`). */
  replicaStartMs: number;
  /** The next N replicas to start crash (CrashLoopBackOff): a restart that fails. Counts down as they fail. */
  failReplicaStarts: number;
}

export const DEFAULT_FAULTS: SandboxFaultSettings = {
  throttleScale: 1,
  transientRate: 0,
  transientKinds: ["500", "503", "reset"],
  transientWritesOnly: false,
  loseResponseOfWrite: 0,
  failRequests: [],
  seed: 1,
  latencyMs: {},
  defaultLatencyMs: 0,
  latencyScale: 1,
  lroDurationMs: {},
  defaultLroDurationMs: 0,
  lroFailure: {},
  graphReplicationDelayMs: 0,
  principalNotFoundWithoutType: true,
  rbacPropagationMs: 0,
  revisionStartMs: 0,
  unhealthyImages: [],
  replicaStartMs: 0,
  failReplicaStarts: 0,
};

/** Realistic latencies and LRO durations (milliseconds at scale 1), from typical Azure timings. */
const REALISTIC_LATENCY: Record<string, number> = {
  "Microsoft.Resources/resourceGroups": 300,
  "Microsoft.KeyVault/vaults": 800,
  "Microsoft.Storage/storageAccounts": 500,
  "Microsoft.App/managedEnvironments": 500,
  "Microsoft.App/containerApps": 500,
};
const REALISTIC_LRO: Record<string, number> = {
  "Microsoft.Storage/storageAccounts": 20_000,
  "Microsoft.OperationalInsights/workspaces": 5_000,
  "Microsoft.App/managedEnvironments": 120_000,
  "Microsoft.App/containerApps": 45_000,
  "Microsoft.CognitiveServices/accounts": 15_000,
  "Microsoft.Resources/resourceGroups": 30_000,
};

/** Presets for `npm start -- --sandbox-faults <name|json>`. */
export function faultPreset(nameOrJson: string): Partial<SandboxFaultSettings> {
  switch (nameOrJson) {
    case "none":
      return { defaultLatencyMs: 0, transientRate: 0 };
    case "realistic":
      // Timings at 1/20 so a demo install takes seconds, with Azure's shape of who is slow.
      // RBAC: a typical few minutes (Azure says up to ~10), scaled like the rest.
      return {
        latencyMs: REALISTIC_LATENCY,
        lroDurationMs: REALISTIC_LRO,
        defaultLatencyMs: 50,
        latencyScale: 0.05,
        graphReplicationDelayMs: 2_000,
        rbacPropagationMs: 120_000,
        revisionStartMs: 30_000,
        // A replica pulls its image and passes its probes before it runs (OpenClaw: seconds to a minute).
        replicaStartMs: 30_000,
      };
    case "flaky":
      return { transientRate: 0.2, graphReplicationDelayMs: 1_000, rbacPropagationMs: 1_000 };
    default:
      try {
        return JSON.parse(nameOrJson) as Partial<SandboxFaultSettings>;
      } catch {
        throw new Error(`--sandbox-faults: '${nameOrJson}' is neither none|realistic|flaky nor JSON.`);
      }
  }
}

/** Small seeded PRNG (mulberry32): reproducible fault sequences. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** ARM's regional token bucket (azure-facts §G): reads 250/25 s⁻¹, writes and deletes 200/10 s⁻¹. */
const BUCKETS: Record<ArmOperationKind, { size: number; refillPerSecond: number }> = {
  read: { size: 250, refillPerSecond: 25 },
  write: { size: 200, refillPerSecond: 10 },
  delete: { size: 200, refillPerSecond: 10 },
};

/**
 * The buckets, one set per subscription (and one for tenant-scope requests), as ARM keeps them
 * per subscription: a fleet spread over a placement pool has each subscription's budget. The
 * sandbox has one caller, so per principal is the same thing.
 */
export class ArmThrottle {
  private readonly levels = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number) {}

  /** Take a token of `scope`'s bucket; returns remaining tokens, or the seconds to wait when it is empty. */
  take(
    kind: ArmOperationKind,
    scale: number,
    scope = "tenant",
  ): { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number } {
    if (scale <= 0) return { allowed: true, remaining: BUCKETS[kind].size };
    const bucket = BUCKETS[kind];
    const size = Math.max(1, Math.floor(bucket.size * scale));
    const refill = bucket.refillPerSecond * scale;
    const now = this.now();
    const key = `${scope}/${kind}`;
    const level = this.levels.get(key) ?? { tokens: size, at: now };
    level.tokens = Math.min(size, level.tokens + ((now - level.at) / 1000) * refill);
    level.at = now;
    this.levels.set(key, level);
    if (level.tokens < 1)
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - level.tokens) / refill)) };
    level.tokens -= 1;
    return { allowed: true, remaining: Math.floor(level.tokens) };
  }
}
