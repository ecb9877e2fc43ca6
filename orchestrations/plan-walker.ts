/**
 * Walks a graph of steps inside an orchestration: every step starts as soon as its own
 * dependencies are done (critical path, not levels), retryable failures are retried (by the
 * step's own instance, orchestrations/step-runner.ts), a permanent failure fails that step and
 * skips its dependents while independent branches run to completion (so a re-run continues from
 * a fuller footprint), and the custom status shows every step, including its attempts and when a
 * waiting step runs again. A step either converges its resource (`ensure`, after its
 * dependencies) or removes it (`remove`: the steps that build the walk order removals dependents
 * first, src/operations/steps.ts). Deterministic: time only from `currentUtcDateTime`, no I/O.
 *
 * Cancel: a `cancel` event (same event name as the steps' reports) stops the walk: steps not
 * started are `canceled`, running ones finish their current attempt and report (each step asks
 * before every retry whether its operation still wants it), and the walk ends `canceled` with
 * each step's real last state. Nothing is written after the walk has returned.
 *
 * The walker never awaits a task twice: it starts each batch of ready steps with one activity
 * call, then waits for one event at a time. That is the pattern the durable extension replays
 * correctly for out-of-proc languages; re-yielding running tasks in new `Task.any`s is not (see
 * step-runner.ts, which an orchestration using the walker must import: it registers the step
 * instances' functions).
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import { activityName, type ActivityResult, type StepVerb } from "../src/contract/activity";
import { resolveReferences, type Outputs } from "../src/contract/reference";
import type { AppliedNode, OperationKind, OperationStep } from "../src/operations/records";
import {
  DEFAULT_RETRY,
  PLAN_STEP_EVENT,
  START_PLAN_STEPS,
  shortError,
  type RetrySettings,
  type StepRunInput,
  type WalkerEvent,
} from "./step-events";

export { DEFAULT_RETRY, MAX_ERROR_LENGTH, retryDelayMs, shortError, type RetrySettings } from "./step-events";

/** One step of a walk: a plan node and what to do with it. */
export interface WalkStep {
  /** The plan node's id (unique in the walk). */
  id: string;
  /** Resource kind: the activity is `<verb><Kind>`. */
  kind: string;
  verb: Exclude<StepVerb, "inspect">;
  title: string;
  dependsOn: string[];
  /** The node's desired state; references resolve from finished steps or `knownOutputs`. */
  desired: unknown;
  /** For `remove`: purge soft-deleted copies too. */
  purge?: boolean;
  /**
   * The activity to run instead of `<verb><Kind>`: a step that is a phase of an operation rather
   * than a resource's converge (rotation: stage, restart, revoke). Same contract, same runner.
   */
  activity?: string;
}

export interface WalkOptions {
  operationId: string;
  slug: string;
  kind: OperationKind;
  /** Which part of a multi-walk operation this is (teardown: retire, restore, destroy), shown in the status. */
  stage?: string;
  retry?: RetrySettings;
  /** The operation's traceparent, handed to every step's activity. */
  trace?: string;
  /** The slug's subscription, handed to every step's activity (absent: the broker's own). */
  subscriptionId?: string;
  /** Outputs of nodes outside this walk that its steps' references may name (what earlier operations recorded). */
  knownOutputs?: Record<string, Outputs>;
}

export interface WalkResult {
  steps: OperationStep[];
  /** Results of the steps that finished, by node id (summaries only, never secrets). */
  results: Record<string, ActivityResult>;
  /** Ids of the failed steps, in walk order. */
  failed: string[];
  /** The walk was canceled (`canceled` steps never ran or stopped before another attempt). */
  canceled: boolean;
  /** The nodes `ensure` steps converged, with what they were converged to. */
  applied: Record<string, AppliedNode>;
  /** The nodes `remove` steps removed (or found gone). */
  removed: string[];
}

export type WalkPhase = "running" | "canceling" | "succeeded" | "failed" | "canceled";

/** The custom status the walker publishes; the service keeps at most 16 KB of it. */
export interface WalkStatus {
  operationId: string;
  slug: string;
  kind: OperationKind;
  phase: WalkPhase;
  stage?: string;
  /** Steps per status: always the whole truth, even when `steps` had to be shortened. */
  counts: Partial<Record<OperationStep["status"], number>>;
  steps: OperationStep[];
  /** Set when finished steps were left out of `steps` to fit the budget: every step not listed is done. */
  omittedDone?: boolean;
}

/** Custom status budget, below the 16 KB the durable service keeps. */
export const MAX_STATUS_BYTES = 15_000;

export function stepCounts(steps: OperationStep[]): WalkStatus["counts"] {
  const counts: WalkStatus["counts"] = {};
  for (const step of steps) counts[step.status] = (counts[step.status] ?? 0) + 1;
  return counts;
}

/**
 * Fit the status in the budget: first shorten errors (the operation record keeps them whole),
 * then leave out finished steps (`omittedDone` says so, so a reader knows they are done, not
 * pending), then cut the rest to what fits with a count of what was cut. Always under budget.
 */
export function fitStatus(status: WalkStatus): WalkStatus {
  const size = (candidate: WalkStatus) => Buffer.byteLength(JSON.stringify(candidate));
  for (const limit of [Infinity, 80, 0]) {
    const candidate =
      limit === Infinity ? status : { ...status, steps: status.steps.map((step) => shortenStep(step, limit)) };
    if (size(candidate) <= MAX_STATUS_BYTES) return candidate;
  }
  const unfinished = status.steps.filter((step) => step.status !== "done").map((step) => shortenStep(step, 0));
  const trimmed: WalkStatus = { ...status, steps: unfinished, omittedDone: true };
  while (size(trimmed) > MAX_STATUS_BYTES && trimmed.steps.length > 0) trimmed.steps = trimmed.steps.slice(0, -1);
  return trimmed;
}

function shortenStep(step: OperationStep, limit: number): OperationStep {
  const short = limit === 0 ? { ...step, resourceId: undefined } : step;
  if (short.error === undefined || short.error.length <= limit) return short;
  if (limit === 0) return { ...short, error: undefined };
  return { ...short, error: `${short.error.slice(0, limit - 3)}...` };
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

/** Starting the steps' instances is the walker's own call to its durable host: retry a blip. */
const START_RETRY = new df.RetryOptions(1_000, 5);

export function* walkPlan(
  context: OrchestrationContext,
  walk: WalkStep[],
  options: WalkOptions,
): Generator<Task, WalkResult, unknown> {
  const retry = { ...DEFAULT_RETRY, ...(options.retry ?? {}) };
  const steps = new Map<string, OperationStep>(
    walk.map((node) => [
      node.id,
      {
        id: node.id,
        title: node.title,
        kind: node.kind,
        ...(node.verb === "remove" ? { verb: "remove" as const } : {}),
        status: "pending",
      },
    ]),
  );
  for (const node of walk) {
    const unknown = node.dependsOn.find((dependency) => !steps.has(dependency));
    if (unknown) throw new TypeError(`Plan node "${node.id}" depends on "${unknown}", which is not in the plan.`);
  }
  const results: Record<string, ActivityResult> = {};
  const resolvedDesired = new Map<string, unknown>();
  const outputs = (): Record<string, Outputs> => {
    const known: Record<string, Outputs> = { ...(options.knownOutputs ?? {}) };
    for (const [id, result] of Object.entries(results)) known[id] = result.outputs;
    return known;
  };
  const nowIso = () => context.df.currentUtcDateTime.toISOString();
  let canceling = false;

  /** A snapshot: the steps change after this, and the status is serialized when the episode ends. */
  const publish = (phase: WalkPhase) => {
    const all = [...steps.values()].map((step) => ({ ...step }));
    context.df.setCustomStatus(
      fitStatus({
        operationId: options.operationId,
        slug: options.slug,
        kind: options.kind,
        phase,
        ...(options.stage ? { stage: options.stage } : {}),
        counts: stepCounts(all),
        steps: all,
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
    // Walk order is not necessarily topological, so propagate until nothing changes.
    for (let changed = true; changed;) {
      changed = false;
      for (const node of walk) {
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
    for (const node of walk) {
      const step = steps.get(node.id)!;
      if (step.status !== "pending" || !node.dependsOn.every((dependency) => steps.get(dependency)!.status === "done"))
        continue;
      step.startedAt = nowIso();
      let desired: unknown;
      try {
        desired = resolveReferences(node.desired as never, outputs(), {
          missing: node.verb === "remove" ? "null" : "throw",
        });
      } catch (error) {
        // A dependency did not return an output this node needs: a plan/activity mismatch that
        // no retry fixes. Fail the step instead of the whole orchestration.
        finish(step);
        fail(step, errorMessage(error));
        continue;
      }
      resolvedDesired.set(node.id, desired);
      step.status = "running";
      step.attempts = 1;
      ready.push({
        parentInstanceId: context.df.instanceId,
        operationId: options.operationId,
        nodeId: node.id,
        activityName: node.activity ?? activityName(node.verb, node.kind),
        activityInput: {
          operationId: options.operationId,
          slug: options.slug,
          nodeId: node.id,
          desired,
          ...(node.purge ? { purge: true } : {}),
          ...(options.trace ? { trace: options.trace } : {}),
          ...(options.subscriptionId ? { subscriptionId: options.subscriptionId } : {}),
        },
        retry,
      });
    }
    return ready;
  };

  const cancelPending = () => {
    for (const step of steps.values()) {
      if (step.status !== "pending") continue;
      step.status = "canceled";
      step.error = "canceled before it started";
    }
  };

  const apply = (event: WalkerEvent) => {
    if (event.operationId !== options.operationId) return; // a report of an earlier operation on this instance id
    if (event.kind === "cancel") {
      canceling = true;
      cancelPending();
      return;
    }
    const step = steps.get(event.nodeId);
    if (!step || step.status !== "running") return; // repeated report
    step.attempts = event.attempts;
    if (event.kind === "retrying") {
      step.retryAt = event.retryAt;
      step.error = event.error;
      return;
    }
    finish(step);
    if (event.kind === "failed") return fail(step, event.error);
    if (event.kind === "canceled") {
      step.status = "canceled";
      step.error = event.error ? `canceled after: ${event.error}` : "canceled";
      return;
    }
    results[event.nodeId] = event.result;
    step.status = "done";
    step.action = event.result.action;
    delete step.error;
    if (event.result.resourceId) step.resourceId = event.result.resourceId;
    if (event.result.notes?.length) step.notes = event.result.notes;
  };

  const running = () => [...steps.values()].filter((step) => step.status === "running").length;

  for (;;) {
    skipUnreachable();
    const ready = canceling ? [] : takeReady();
    if (ready.length > 0) {
      publish("running");
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
    publish(canceling ? "canceling" : "running");
    if (running() === 0) {
      // Nothing runs and nothing became ready: whatever is still pending waits on itself.
      for (const step of steps.values())
        if (step.status === "pending") fail(step, "not started: dependency cycle in the plan");
      break;
    }
    apply((yield context.df.waitForExternalEvent(PLAN_STEP_EVENT)) as WalkerEvent);
  }

  const failed = walk.filter((node) => steps.get(node.id)!.status === "failed").map((node) => node.id);
  publish(canceling ? "canceled" : failed.length > 0 ? "failed" : "succeeded");
  const applied: Record<string, AppliedNode> = {};
  const removed: string[] = [];
  for (const node of walk) {
    const result = results[node.id];
    if (!result) continue;
    if (node.verb === "remove") removed.push(node.id);
    else
      applied[node.id] = {
        kind: node.kind,
        dependsOn: node.dependsOn,
        desired: resolvedDesired.get(node.id),
        outputs: result.outputs,
        ...(result.resourceId ? { resourceId: result.resourceId } : {}),
      };
  }
  return { steps: [...steps.values()], results, failed, canceled: canceling, applied, removed };
}
