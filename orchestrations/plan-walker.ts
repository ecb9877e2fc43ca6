/**
 * Walks a desired-state graph inside an orchestration: every node starts as soon as its own
 * dependencies are done (critical path, not levels), retryable failures are retried with backoff
 * (and never sooner than the service's Retry-After), a permanent failure fails that step and skips
 * its dependents while independent branches run to completion (so a re-run continues from a
 * fuller footprint), and the custom status shows every step, including the attempt and when a
 * waiting step runs again. Deterministic: time only from `currentUtcDateTime`, no I/O.
 *
 * Retries are the walker's, not a durable retry policy's: only here can the delay honour what the
 * failure says (Retry-After; propagation delays need more patience than a 503).
 */
import type { OrchestrationContext, Task } from "durable-functions";
import { isActivityFailure, resolveReferences, type ActivityFailure, type ActivityInput, type ActivityResult } from "../activities/contract";
import type { PlanNode } from "../src/model/plan";
import type { OperationKind, OperationStep } from "../src/operations/records";

export interface RetrySettings {
  firstRetryIntervalMs: number;
  backoffCoefficient: number;
  maxRetryIntervalMs: number;
  /** Deliveries of a step failing transiently (throttling, 5xx, busy) before it fails. */
  maxAttempts: number;
  /** Deliveries of a step waiting on propagation (Entra replication, RBAC) before it fails. */
  maxPropagationAttempts?: number;
}

/**
 * 2 s, 4 s, 8 s ... capped at 60 s: eight deliveries span about three minutes; propagation
 * delays get sixteen, about eleven minutes (Azure documents up to ten for RBAC).
 */
export const DEFAULT_RETRY: RetrySettings = { firstRetryIntervalMs: 2_000, backoffCoefficient: 2, maxRetryIntervalMs: 60_000, maxAttempts: 8, maxPropagationAttempts: 16 };

export interface WalkOptions {
  operationId: string;
  slug: string;
  kind: OperationKind;
  retry?: RetrySettings;
}

export interface WalkResult {
  steps: OperationStep[];
  /** Results of the steps that finished, by node id (summaries only, never secrets). */
  results: Record<string, ActivityResult>;
  /** Ids of the failed steps, in plan order. */
  failed: string[];
}

export type WalkPhase = "running" | "succeeded" | "failed";

/** The custom status the walker publishes; the service keeps at most 16 KB of it. */
export interface WalkStatus {
  operationId: string;
  slug: string;
  kind: OperationKind;
  phase: WalkPhase;
  steps: OperationStep[];
}

/** Errors shown in status and records are one line of at most this many characters. */
export const MAX_ERROR_LENGTH = 300;

/** Plan kind "keyVault" is converged by activity "ensureKeyVault". */
export function activityNameForKind(kind: string): string {
  return `ensure${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}

/** The wait before delivery `attempt + 1`, after `attempt` failed deliveries. */
export function retryDelayMs(settings: RetrySettings, attempt: number, retryAfterMs?: number): number {
  const backoff = Math.min(settings.firstRetryIntervalMs * Math.pow(settings.backoffCoefficient, attempt - 1), settings.maxRetryIntervalMs);
  return Math.max(backoff, retryAfterMs ?? 0);
}

/**
 * One trimmed line for status and records. A durable task failure reads
 * "Activity function 'x' failed: <message> \n <stack>": keep the activity's own message.
 */
export function shortError(message: string): string {
  const line = message.split("\n")[0].replace(/^Activity function '[^']*' failed:\s*/, "").trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 3)}...` : line;
}

/** Custom status budget, below the 16 KB the durable service keeps. */
export const MAX_STATUS_BYTES = 15_000;

/** Shorten errors in the status (the operation record keeps them whole) until it fits the budget. */
export function fitStatus(status: WalkStatus): WalkStatus {
  for (const limit of [Infinity, 80, 0]) {
    const candidate = limit === Infinity ? status : { ...status, steps: status.steps.map((step) => shortenStepError(step, limit)) };
    if (Buffer.byteLength(JSON.stringify(candidate)) <= MAX_STATUS_BYTES) return candidate;
  }
  // Still too large: keep only what is unfinished or failed, which is what an operator needs.
  return { ...status, steps: status.steps.filter((step) => step.status !== "done").map((step) => ({ ...shortenStepError(step, 0), resourceId: undefined })) };
}

function shortenStepError(step: OperationStep, limit: number): OperationStep {
  if (step.error === undefined || step.error.length <= limit) return step;
  if (limit === 0) return { ...step, error: undefined };
  return { ...step, error: `${step.error.slice(0, limit - 3)}...` };
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

/** What the walker is waiting on for a node: its activity, or the timer before the next delivery. */
interface Pending {
  task: Task;
  waiting: "activity" | "retryTimer";
}

export function* walkPlan(context: OrchestrationContext, nodes: PlanNode[], options: WalkOptions): Generator<Task, WalkResult, unknown> {
  const retry = { ...DEFAULT_RETRY, ...(options.retry ?? {}) };
  const steps = new Map<string, OperationStep>(nodes.map((node) => [node.id, { id: node.id, status: "pending" }]));
  for (const node of nodes) {
    const unknown = node.dependsOn.find((dependency) => !steps.has(dependency));
    if (unknown) throw new TypeError(`Plan node "${node.id}" depends on "${unknown}", which is not in the plan.`);
  }
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const results: Record<string, ActivityResult> = {};
  /** Resolved activity inputs of started nodes (re-used by every retry). */
  const inputs = new Map<string, ActivityInput>();
  /** What each started, unsettled node waits on; settled ones are removed at once. */
  const pending = new Map<string, Pending>();
  const nowIso = () => context.df.currentUtcDateTime.toISOString();

  const publish = (phase: WalkPhase) => {
    context.df.setCustomStatus(fitStatus({ operationId: options.operationId, slug: options.slug, kind: options.kind, phase, steps: [...steps.values()] }));
  };

  const finish = (step: OperationStep) => {
    step.finishedAt = nowIso();
    step.durationMs = Date.parse(step.finishedAt) - Date.parse(step.startedAt ?? step.finishedAt);
    delete step.retryAt;
  };

  const fail = (step: OperationStep, message: string) => {
    step.status = "failed";
    step.error = shortError(message);
  };
  // (shortError keeps one line of at most MAX_ERROR_LENGTH; a suffix is added to the short form.)

  const deliver = (nodeId: string) => {
    const step = steps.get(nodeId)!;
    step.attempts = (step.attempts ?? 0) + 1;
    delete step.retryAt;
    pending.set(nodeId, { task: context.df.callActivity(activityNameForKind(byId.get(nodeId)!.kind), { ...inputs.get(nodeId)!, attempt: step.attempts }), waiting: "activity" });
  };

  /** A failed delivery: wait and deliver again while the budget for this kind of failure lasts. */
  const retryOrFail = (nodeId: string, failure: Pick<ActivityFailure, "message" | "retryable" | "retryClass" | "retryAfterMs">) => {
    const step = steps.get(nodeId)!;
    const attempts = step.attempts ?? 1;
    const budget = failure.retryClass === "propagation" ? (retry.maxPropagationAttempts ?? retry.maxAttempts) : retry.maxAttempts;
    if (!failure.retryable || attempts >= budget) {
      finish(step);
      const exhausted = failure.retryable ? ` (still failing after ${attempts} attempts)` : "";
      return fail(step, `${shortError(failure.message)}${exhausted}`);
    }
    const retryAt = new Date(context.df.currentUtcDateTime.getTime() + retryDelayMs(retry, attempts, failure.retryAfterMs));
    step.retryAt = retryAt.toISOString();
    step.error = shortError(failure.message);
    pending.set(nodeId, { task: context.df.createTimer(retryAt), waiting: "retryTimer" });
  };

  const settle = (nodeId: string, waited: Pending) => {
    pending.delete(nodeId);
    const step = steps.get(nodeId)!;
    if (waited.waiting === "retryTimer") return deliver(nodeId);
    const task = waited.task;
    // A thrown failure is one the activity could not classify (the host, a crash): worth a retry.
    if (task.isFaulted) return retryOrFail(nodeId, { message: errorMessage(task.result), retryable: true, retryClass: "transient" });
    if (isActivityFailure(task.result)) return retryOrFail(nodeId, { ...task.result, message: `${task.result.code}: ${task.result.message}` });
    const result = task.result as ActivityResult;
    results[nodeId] = result;
    finish(step);
    step.status = "done";
    step.action = result.action;
    delete step.error;
    if (result.resourceId) step.resourceId = result.resourceId;
  };

  const skipUnreachable = () => {
    // Plan order is not necessarily topological, so propagate until nothing changes.
    for (let changed = true; changed; ) {
      changed = false;
      for (const node of nodes) {
        const step = steps.get(node.id)!;
        if (step.status !== "pending") continue;
        const blocker = node.dependsOn.find((dependency) => ["failed", "skipped"].includes(steps.get(dependency)!.status));
        if (blocker === undefined) continue;
        step.status = "skipped";
        step.error = `skipped: ${blocker} ${steps.get(blocker)!.status}`;
        changed = true;
      }
    }
  };

  const startReady = () => {
    for (const node of nodes) {
      const step = steps.get(node.id)!;
      if (step.status !== "pending" || !node.dependsOn.every((dependency) => steps.get(dependency)!.status === "done")) continue;
      step.startedAt = nowIso();
      let desired: Record<string, unknown>;
      try {
        desired = resolveReferences(node.desired, results);
      } catch (error) {
        // A dependency did not return an output this node needs: a plan/activity mismatch that
        // no retry fixes. Fail the step instead of the whole orchestration.
        finish(step);
        fail(step, errorMessage(error));
        continue;
      }
      inputs.set(node.id, { operationId: options.operationId, slug: options.slug, nodeId: node.id, desired });
      step.status = "running";
      deliver(node.id);
    }
  };

  for (;;) {
    skipUnreachable();
    startReady();
    // A node failed while resolving its input can block others: settle the graph before waiting.
    skipUnreachable();
    publish("running");
    if (pending.size === 0) {
      // Nothing runs and nothing became ready: whatever is still pending waits on itself.
      for (const step of steps.values()) if (step.status === "pending") fail(step, "not started: dependency cycle in the plan");
      break;
    }

    // A task that already has its result never resumes a new Task.any (its completion was
    // delivered to an earlier one), so settle those first without yielding.
    const alreadySettled = [...pending.entries()].filter(([, waited]) => waited.task.isCompleted || waited.task.isFaulted);
    if (alreadySettled.length > 0) {
      for (const [nodeId, waited] of alreadySettled) settle(nodeId, waited);
      continue;
    }
    // Task.any resolves with the first child to finish, failed or not (WhenAnyTask.trySetValue).
    const winner = (yield context.df.Task.any([...pending.values()].map((waited) => waited.task))) as Task;
    const entry = [...pending.entries()].find(([, waited]) => waited.task === winner);
    if (entry === undefined) throw new Error("Task.any returned a task the walker is not tracking.");
    settle(entry[0], entry[1]);
  }

  const failed = nodes.filter((node) => steps.get(node.id)!.status === "failed").map((node) => node.id);
  publish(failed.length > 0 ? "failed" : "succeeded");
  return { steps: [...steps.values()], results, failed };
}
