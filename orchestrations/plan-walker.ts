/**
 * Walks a desired-state graph inside an orchestration: every node starts as soon as its own
 * dependencies are done (critical path, not levels), transient failures are retried with backoff
 * by the durable retry policy, a permanent failure fails that step and skips its dependents while
 * independent branches run to completion (so a re-run continues from a fuller footprint), and the
 * custom status shows every step. Deterministic: time only from `currentUtcDateTime`, no I/O.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { isActivityFailure, resolveReferences, type ActivityInput, type ActivityResult } from "../activities/contract";
import type { PlanNode } from "../src/model/plan";
import type { OperationKind, OperationStep } from "../src/operations/records";

export interface RetrySettings {
  firstRetryIntervalMs: number;
  backoffCoefficient: number;
  maxRetryIntervalMs: number;
  maxAttempts: number;
}

/** Shared policy for every ensure step: 2 s, 4 s, 8 s ... capped at 60 s, six attempts. */
export const DEFAULT_RETRY: RetrySettings = { firstRetryIntervalMs: 2_000, backoffCoefficient: 2, maxRetryIntervalMs: 60_000, maxAttempts: 6 };

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

export function toRetryOptions(settings: RetrySettings): df.RetryOptions {
  const options = new df.RetryOptions(settings.firstRetryIntervalMs, settings.maxAttempts);
  options.backoffCoefficient = settings.backoffCoefficient;
  options.maxRetryIntervalInMilliseconds = settings.maxRetryIntervalMs;
  return options;
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
  return { ...status, steps: status.steps.filter((step) => step.status !== "done").map((step) => shortenStepError(step, 0)) };
}

function shortenStepError(step: OperationStep, limit: number): OperationStep {
  if (step.error === undefined || step.error.length <= limit) return step;
  if (limit === 0) return { ...step, error: undefined };
  return { ...step, error: `${step.error.slice(0, limit - 3)}...` };
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

export function* walkPlan(context: OrchestrationContext, nodes: PlanNode[], options: WalkOptions): Generator<Task, WalkResult, unknown> {
  const retry = toRetryOptions(options.retry ?? DEFAULT_RETRY);
  const steps = new Map<string, OperationStep>(nodes.map((node) => [node.id, { id: node.id, status: "pending" }]));
  for (const node of nodes) {
    const unknown = node.dependsOn.find((dependency) => !steps.has(dependency));
    if (unknown) throw new TypeError(`Plan node "${node.id}" depends on "${unknown}", which is not in the plan.`);
  }
  const results: Record<string, ActivityResult> = {};
  /** Tasks started and not yet settled, by node id; settled ones are removed at once. */
  const running = new Map<string, Task>();
  const nowIso = () => context.df.currentUtcDateTime.toISOString();

  const publish = (phase: WalkPhase) => {
    context.df.setCustomStatus(fitStatus({ operationId: options.operationId, slug: options.slug, kind: options.kind, phase, steps: [...steps.values()] }));
  };

  const fail = (step: OperationStep, message: string) => {
    step.status = "failed";
    step.error = shortError(message);
  };

  const settle = (nodeId: string, task: Task) => {
    running.delete(nodeId);
    const step = steps.get(nodeId)!;
    step.finishedAt = nowIso();
    step.durationMs = Date.parse(step.finishedAt) - Date.parse(step.startedAt!);
    // An exception here means the retries are spent; an ActivityFailure was never retried.
    if (task.isFaulted) return fail(step, errorMessage(task.result));
    if (isActivityFailure(task.result)) return fail(step, `${task.result.code}: ${task.result.message}`);
    const result = task.result as ActivityResult;
    results[nodeId] = result;
    step.status = "done";
    step.action = result.action;
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
        step.finishedAt = step.startedAt;
        step.durationMs = 0;
        fail(step, errorMessage(error));
        continue;
      }
      const input: ActivityInput = { operationId: options.operationId, slug: options.slug, nodeId: node.id, desired };
      running.set(node.id, context.df.callActivityWithRetry(activityNameForKind(node.kind), retry, input));
      step.status = "running";
    }
  };

  for (;;) {
    skipUnreachable();
    startReady();
    // A node failed while resolving its input can block others: settle the graph before waiting.
    skipUnreachable();
    publish("running");
    if (running.size === 0) {
      // Nothing runs and nothing became ready: whatever is still pending waits on itself.
      for (const step of steps.values()) if (step.status === "pending") fail(step, "not started: dependency cycle in the plan");
      break;
    }

    // A task that already has its result never resumes a new Task.any (its completion was
    // delivered to an earlier one), so settle those first without yielding.
    const alreadySettled = [...running.entries()].filter(([, task]) => task.isCompleted || task.isFaulted);
    if (alreadySettled.length > 0) {
      for (const [nodeId, task] of alreadySettled) settle(nodeId, task);
      continue;
    }
    // Task.any resolves with the first child to finish, failed or not (WhenAnyTask.trySetValue).
    const winner = (yield context.df.Task.any([...running.values()])) as Task;
    const nodeId = [...running.entries()].find(([, task]) => task === winner)?.[0];
    if (nodeId === undefined) throw new Error("Task.any returned a task the walker is not tracking.");
    settle(nodeId, winner);
  }

  const failed = nodes.filter((node) => steps.get(node.id)!.status === "failed").map((node) => node.id);
  publish(failed.length > 0 ? "failed" : "succeeded");
  return { steps: [...steps.values()], results, failed };
}
