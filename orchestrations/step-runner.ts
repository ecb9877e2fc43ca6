/**
 * One plan step, run as an orchestration of its own (`runPlanStep`): its activity, its retries
 * (backoff, never sooner than the service's Retry-After, a longer budget for propagation delays),
 * and a report to the walker after every attempt that will be retried and once at the end.
 * Before every retry the step asks whether its operation still wants it (`checkPlanStep`): a
 * canceled operation, or a walker that is gone (terminated), stops it, so nothing is written
 * after an operation has been stopped.
 *
 * Why a child instance per step instead of the walker awaiting activities directly: the walker
 * must react to whichever step finishes first, and with durable-functions on Azure the only safe
 * way to wait on many things is one external event at a time. A task yielded again in a new
 * `Task.any` is scheduled again by the extension's out-of-proc shim under a new id while the
 * library keeps the old one, so results land on the wrong tasks
 * (Azure/azure-functions-durable-js#574; OutOfProcOrchestrationShim.InvokeAPIFromAction). Every
 * yield here and in the walker is a single fresh task or one compound of fresh tasks.
 *
 * Importing this module registers the orchestration and its three activities.
 */
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import { isActivityFailure, type ActivityFailure, type ActivityResult } from "../src/contract/activity";
import {
  CHECK_PLAN_STEP,
  PLAN_STEP_EVENT,
  REPORT_PLAN_STEP,
  RUN_PLAN_STEP,
  START_PLAN_STEPS,
  retryDelayMs,
  shortError,
  stepInstanceId,
  type StepCheck,
  type StepEvent,
  type StepRunInput,
} from "./step-events";

/** Reports and checks are Shire's own calls to its durable host: a short retry covers a blip. */
const REPORT_RETRY = new df.RetryOptions(1_000, 5);

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

const runPlanStep: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<StepRunInput>();
  const target = { parentInstanceId: input.parentInstanceId, operationId: input.operationId };
  const report = (event: StepEvent) =>
    context.df.callActivityWithRetry(REPORT_PLAN_STEP, REPORT_RETRY, { ...target, event });
  const check = () => context.df.callActivityWithRetry(CHECK_PLAN_STEP, REPORT_RETRY, target);
  const base = { operationId: input.operationId, nodeId: input.nodeId };
  for (let attempts = 1; ; attempts++) {
    let outcome: ActivityResult | ActivityFailure;
    try {
      outcome = (yield context.df.callActivity(input.activityName, {
        ...input.activityInput,
        attempt: attempts,
      })) as ActivityResult | ActivityFailure;
    } catch (error) {
      // A thrown failure is one the activity could not classify (the host, a crash): worth a retry.
      outcome = {
        nodeId: input.nodeId,
        failed: true,
        code: "ActivityFailed",
        message: errorMessage(error),
        retryable: true,
        retryClass: "transient",
      };
    }
    if (!isActivityFailure(outcome)) {
      yield report({ ...base, kind: "finished", attempts, result: outcome });
      return { nodeId: input.nodeId, status: "done", attempts };
    }
    const failure = outcome;
    const message = `${failure.code}: ${failure.message}`;
    const budget =
      failure.retryClass === "propagation"
        ? (input.retry.maxPropagationAttempts ?? input.retry.maxAttempts)
        : input.retry.maxAttempts;
    if (!failure.retryable || attempts >= budget) {
      const error = failure.retryable
        ? `${shortError(message)} (still failing after ${attempts} attempts)`
        : shortError(message);
      yield report({ ...base, kind: "failed", attempts, error });
      return { nodeId: input.nodeId, status: "failed", attempts };
    }
    const retryAt = new Date(
      context.df.currentUtcDateTime.getTime() +
        retryDelayMs(input.retry, attempts, failure.retryAfterMs, failure.retryClass),
    );
    context.df.setCustomStatus({
      nodeId: input.nodeId,
      attempts,
      retryAt: retryAt.toISOString(),
      error: shortError(message),
    });
    const afterReport = (yield report({
      ...base,
      kind: "retrying",
      attempts,
      retryAt: retryAt.toISOString(),
      error: shortError(message),
    })) as StepCheck;
    if (!afterReport.stop) {
      yield context.df.createTimer(retryAt);
      const beforeRetry = (yield check()) as StepCheck;
      if (!beforeRetry.stop) continue;
    }
    yield report({ ...base, kind: "canceled", attempts, error: shortError(message) });
    return { nodeId: input.nodeId, status: "canceled", attempts };
  }
};

/**
 * Starts the steps' instances. Idempotent (activities are delivered at least once): an instance
 * that exists already, running or finished, is left alone, so a step never runs twice.
 */
async function startPlanSteps(
  input: { steps: StepRunInput[] },
  context: InvocationContext,
): Promise<{ started: number; existing: number }> {
  const client = df.getClient(context);
  let started = 0;
  for (const step of input.steps) {
    const instanceId = stepInstanceId(step.operationId, step.nodeId);
    if (await statusOf(client, instanceId)) continue;
    try {
      await client.startNew(RUN_PLAN_STEP, { instanceId, input: step });
      started++;
    } catch (error) {
      // Lost a race with a duplicate delivery of this activity: the instance is there.
      if (!(await statusOf(client, instanceId))) throw error;
    }
  }
  return { started, existing: input.steps.length - started };
}

async function statusOf(
  client: df.DurableClient,
  instanceId: string,
): Promise<df.DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput: false });
  } catch {
    return undefined; // getStatus rejects on 404
  }
}

const LIVE = new Set(["Running", "Pending", "ContinuedAsNew", "Suspended"]);

/**
 * Does the step's operation still want it? Not when the walker's instance has ended (terminated,
 * or replaced by another operation on the slug) or publishes that it is canceling.
 */
async function checkPlanStep(
  input: { parentInstanceId: string; operationId: string },
  context: InvocationContext,
): Promise<StepCheck> {
  const status = await statusOf(df.getClient(context), input.parentInstanceId);
  if (!status || !LIVE.has(String(status.runtimeStatus)))
    return { stop: true, reason: `operation ${String(status?.runtimeStatus ?? "gone").toLowerCase()}` };
  const custom = status.customStatus as { operationId?: unknown; phase?: unknown } | null | undefined;
  if (custom?.operationId !== undefined && custom.operationId !== input.operationId)
    return { stop: true, reason: "another operation runs" };
  if (custom?.phase === "canceling" || custom?.phase === "canceled")
    return { stop: true, reason: "operation canceled" };
  return { stop: false };
}

/** Raises the step's report on the walker, then tells the step whether to go on; a walker that has ended no longer listens. */
async function reportPlanStep(
  input: { parentInstanceId: string; operationId: string; event: StepEvent },
  context: InvocationContext,
): Promise<StepCheck> {
  const client = df.getClient(context);
  const check = await checkPlanStep(input, context);
  if (check.stop && check.reason !== "operation canceled") return check;
  await client.raiseEvent(input.parentInstanceId, PLAN_STEP_EVENT, input.event);
  return check;
}

df.app.orchestration(RUN_PLAN_STEP, runPlanStep);
df.app.activity(START_PLAN_STEPS, { extraInputs: [df.input.durableClient()], handler: startPlanSteps });
df.app.activity(REPORT_PLAN_STEP, { extraInputs: [df.input.durableClient()], handler: reportPlanStep });
df.app.activity(CHECK_PLAN_STEP, { extraInputs: [df.input.durableClient()], handler: checkPlanStep });
