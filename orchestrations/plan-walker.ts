/**
 * Walks a desired-state graph inside an orchestration: every node starts as soon as its own
 * dependencies are done (critical path, not levels), retryable failures are retried (by the
 * step's own instance, orchestrations/step-runner.ts), a permanent failure fails that step and
 * skips its dependents while independent branches run to completion (so a re-run continues from
 * a fuller footprint), and the custom status shows every step, including its attempts and when a
 * waiting step runs again. Deterministic: time only from `currentUtcDateTime`, no I/O.
 *
 * The walker never awaits a task twice: it starts each batch of ready steps with one activity
 * call, then waits for one step event at a time. That is the pattern the durable extension
 * replays correctly for out-of-proc languages; re-yielding running tasks in new `Task.any`s is
 * not (see step-runner.ts, which an orchestration using the walker must import: it registers the
 * step instances' functions).
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { resolveReferences, type ActivityResult } from "../activities/contract";
import type { PlanNode } from "../src/model/plan";
import type { OperationKind, OperationStep } from "../src/operations/records";
import {
  DEFAULT_RETRY,
  PLAN_STEP_EVENT,
  START_PLAN_STEPS,
  shortError,
  type RetrySettings,
  type StepEvent,
  type StepRunInput,
} from "./step-events";

export { DEFAULT_RETRY, MAX_ERROR_LENGTH, retryDelayMs, shortError, type RetrySettings } from "./step-events";

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

/** Plan kind "keyVault" is converged by activity "ensureKeyVault". */
export function activityNameForKind(kind: string): string {
  return `ensure${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}

/** Custom status budget, below the 16 KB the durable service keeps. */
export const MAX_STATUS_BYTES = 15_000;

/** Shorten errors in the status (the operation record keeps them whole) until it fits the budget. */
export function fitStatus(status: WalkStatus): WalkStatus {
  for (const limit of [Infinity, 80, 0]) {
    const candidate =
      limit === Infinity ? status : { ...status, steps: status.steps.map((step) => shortenStepError(step, limit)) };
    if (Buffer.byteLength(JSON.stringify(candidate)) <= MAX_STATUS_BYTES) return candidate;
  }
  // Still too large: keep only what is unfinished or failed, which is what an operator needs.
  return {
    ...status,
    steps: status.steps
      .filter((step) => step.status !== "done")
      .map((step) => ({ ...shortenStepError(step, 0), resourceId: undefined })),
  };
}

function shortenStepError(step: OperationStep, limit: number): OperationStep {
  if (step.error === undefined || step.error.length <= limit) return step;
  if (limit === 0) return { ...step, error: undefined };
  return { ...step, error: `${step.error.slice(0, limit - 3)}...` };
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

/** Starting the steps' instances is the walker's own call to its durable host: retry a blip. */
const START_RETRY = new df.RetryOptions(1_000, 5);

export function* walkPlan(
  context: OrchestrationContext,
  nodes: PlanNode[],
  options: WalkOptions,
): Generator<Task, WalkResult, unknown> {
  const retry = { ...DEFAULT_RETRY, ...(options.retry ?? {}) };
  const steps = new Map<string, OperationStep>(nodes.map((node) => [node.id, { id: node.id, status: "pending" }]));
  for (const node of nodes) {
    const unknown = node.dependsOn.find((dependency) => !steps.has(dependency));
    if (unknown) throw new TypeError(`Plan node "${node.id}" depends on "${unknown}", which is not in the plan.`);
  }
  const results: Record<string, ActivityResult> = {};
  const nowIso = () => context.df.currentUtcDateTime.toISOString();

  const publish = (phase: WalkPhase) => {
    context.df.setCustomStatus(
      fitStatus({
        operationId: options.operationId,
        slug: options.slug,
        kind: options.kind,
        phase,
        steps: [...steps.values()],
      }),
    );
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

  const skipUnreachable = () => {
    // Plan order is not necessarily topological, so propagate until nothing changes.
    for (let changed = true; changed;) {
      changed = false;
      for (const node of nodes) {
        const step = steps.get(node.id)!;
        if (step.status !== "pending") continue;
        const blocker = node.dependsOn.find((dependency) =>
          ["failed", "skipped"].includes(steps.get(dependency)!.status),
        );
        if (blocker === undefined) continue;
        step.status = "skipped";
        step.error = `skipped: ${blocker} ${steps.get(blocker)!.status}`;
        changed = true;
      }
    }
  };

  /** The ready steps' run inputs; a step whose input cannot be resolved fails here instead. */
  const takeReady = (): StepRunInput[] => {
    const ready: StepRunInput[] = [];
    for (const node of nodes) {
      const step = steps.get(node.id)!;
      if (step.status !== "pending" || !node.dependsOn.every((dependency) => steps.get(dependency)!.status === "done"))
        continue;
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
      step.status = "running";
      step.attempts = 1;
      ready.push({
        parentInstanceId: context.df.instanceId,
        operationId: options.operationId,
        nodeId: node.id,
        activityName: activityNameForKind(node.kind),
        activityInput: { operationId: options.operationId, slug: options.slug, nodeId: node.id, desired },
        retry,
      });
    }
    return ready;
  };

  const apply = (event: StepEvent) => {
    const step = steps.get(event.nodeId);
    // Reports of another operation (an earlier one on this instance id) or repeated ones are old news.
    if (event.operationId !== options.operationId || !step || step.status !== "running") return;
    step.attempts = event.attempts;
    if (event.kind === "retrying") {
      step.retryAt = event.retryAt;
      step.error = event.error;
      return;
    }
    finish(step);
    if (event.kind === "failed") return fail(step, event.error);
    results[event.nodeId] = event.result;
    step.status = "done";
    step.action = event.result.action;
    delete step.error;
    if (event.result.resourceId) step.resourceId = event.result.resourceId;
  };

  const running = () => [...steps.values()].filter((step) => step.status === "running").length;

  for (;;) {
    skipUnreachable();
    const ready = takeReady();
    if (ready.length > 0) {
      try {
        yield context.df.callActivityWithRetry(START_PLAN_STEPS, START_RETRY, { steps: ready });
      } catch (error) {
        for (const input of ready) {
          const step = steps.get(input.nodeId)!;
          finish(step);
          fail(step, `could not start the step: ${errorMessage(error)}`);
        }
      }
      // Steps failed while resolving or starting can block others: settle the graph again.
      continue;
    }
    publish("running");
    if (running() === 0) {
      // Nothing runs and nothing became ready: whatever is still pending waits on itself.
      for (const step of steps.values())
        if (step.status === "pending") fail(step, "not started: dependency cycle in the plan");
      break;
    }
    apply((yield context.df.waitForExternalEvent(PLAN_STEP_EVENT)) as StepEvent);
  }

  const failed = nodes.filter((node) => steps.get(node.id)!.status === "failed").map((node) => node.id);
  publish(failed.length > 0 ? "failed" : "succeeded");
  return { steps: [...steps.values()], results, failed };
}
