/**
 * `driftAudit`: walks every installed slug (or the ones asked for) with the read-only half of
 * each resource kind (activities/drift.ts) and records what differs from its plan, paced inside
 * ARM's read budget (a bucket of 250 that refills 25 a second, shared by the subscription: the
 * audit keeps to a share of it, from the reads each slug actually cost). Writes nothing to Azure.
 * With `repair`, the chosen slugs that drifted get a repair operation when the audit is done.
 * One audit at a time (instance `drift-audit`).
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import { logOnce } from "../src/telemetry/trace";
import { paceDelayMs } from "../src/operations/pace";

export const DRIFT_AUDIT_ORCHESTRATION = "driftAudit";
export const DRIFT_AUDIT_INSTANCE = "drift-audit";
export const AUDIT_SLUG_DRIFT = "auditSlugDrift";
export const LIST_AUDITABLE_SLUGS = "listAuditableSlugs";
export const START_REPAIRS = "startRepairs";

export interface DriftAuditInput {
  auditId: string;
  /** Only these slugs (default: every installed one). */
  slugs?: string[];
  /** Start a repair for these slugs if they drifted (`true`: every drifted slug). */
  repair?: string[] | true;
  /** ARM reads a second the audit may spend on average (default 20: most of ARM's 25, the rest for everything else). */
  readsPerSecond?: number;
  /** The burst it may start with (default 200 of ARM's 250). */
  burst?: number;
  /** Slugs audited at once. */
  parallel?: number;
  /** The app's own identity and credentials, never secrets: what the repairs are started as. */
  actor: string;
}

export interface SlugAuditResult {
  slug: string;
  drifted: number;
  extra: number;
  reads: number;
  /** The plan nodes that differ or are missing (what a repair converges). */
  nodes: string[];
}

export interface DriftAuditStatus {
  auditId: string;
  phase: "auditing" | "waiting" | "repairing" | "done";
  total: number;
  audited: number;
  drifted: string[];
  reads: number;
  repairs?: { slug: string; operationId?: string; refused?: string }[];
}

const AUDIT_RETRY = new df.RetryOptions(2_000, 4);

const driftAudit: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DriftAuditInput>();
  const slugs =
    input.slugs ?? ((yield context.df.callActivityWithRetry(LIST_AUDITABLE_SLUGS, AUDIT_RETRY, {})) as string[]);
  const budget = { burst: input.burst ?? 200, perSecond: input.readsPerSecond ?? 20 };
  const parallel = Math.max(1, input.parallel ?? 4);
  const started = context.df.currentUtcDateTime.getTime();
  const status: DriftAuditStatus = {
    auditId: input.auditId,
    phase: "auditing",
    total: slugs.length,
    audited: 0,
    drifted: [],
    reads: 0,
  };
  const results: SlugAuditResult[] = [];
  // A slug's cost is learnt as the audit goes; before the first, a generous guess.
  let perSlug = 80;
  for (let index = 0; index < slugs.length; index += parallel) {
    const batch = slugs.slice(index, index + parallel);
    const elapsed = context.df.currentUtcDateTime.getTime() - started;
    const wait = paceDelayMs(status.reads, elapsed, perSlug * batch.length, budget);
    if (wait > 0) {
      context.df.setCustomStatus({ ...status, phase: "waiting" });
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + wait));
    }
    context.df.setCustomStatus(status);
    const tasks: Task[] = batch.map((slug) =>
      context.df.callActivityWithRetry(AUDIT_SLUG_DRIFT, AUDIT_RETRY, { slug, auditId: input.auditId }),
    );
    const outcomes = (yield context.df.Task.all(tasks)) as SlugAuditResult[];
    for (const outcome of outcomes) {
      results.push(outcome);
      status.audited++;
      status.reads += outcome.reads;
      if (outcome.drifted > 0 || outcome.extra > 0) status.drifted.push(outcome.slug);
    }
    perSlug = Math.max(1, Math.ceil(status.reads / status.audited));
  }
  if (input.repair) {
    const chosen =
      input.repair === true
        ? status.drifted
        : status.drifted.filter((slug) => (input.repair as string[]).includes(slug));
    status.phase = "repairing";
    context.df.setCustomStatus(status);
    status.repairs = (yield context.df.callActivityWithRetry(START_REPAIRS, AUDIT_RETRY, {
      slugs: chosen,
      actor: input.actor,
    })) as DriftAuditStatus["repairs"];
  }
  status.phase = "done";
  context.df.setCustomStatus(status);
  logOnce(
    context,
    `Drift audit ${input.auditId}: ${status.audited} slug(s), ${status.drifted.length} drifted, ${status.reads} ARM reads.`,
  );
  return { ...status, results };
};

df.app.orchestration(DRIFT_AUDIT_ORCHESTRATION, driftAudit);
