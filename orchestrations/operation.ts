/**
 * What every operation's orchestration shares: its input's common fields, the slug's one
 * instance id (the slug's lock), the message an outcome gets, and writing its records.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, Task } from "durable-functions";
import type { OperationKind, OperationStep, SlugState } from "../src/operations/records";
import {
  RECORD_OPERATION_PROGRESS,
  RECORD_OPERATION_RESULT,
  type OperationProgressInput,
  type OperationResultInput,
} from "../src/operations/result";
import type { RetrySettings, WalkResult } from "./plan-walker";

export interface OperationInput {
  operationId: string;
  slug: string;
  kind: OperationKind;
  /** Who asked (the record keeps it). */
  actor: string;
  /** The validated request, as the record shows it (never secrets). */
  request: unknown;
  /** Overrides the walker's retry policy (tests and demos shrink it). */
  retry?: RetrySettings;
  /** The W3C traceparent of the operation's trace (its starter's span). */
  trace?: string;
  /** The subscription the slug is placed in (its record's); absent: the broker's own, for slugs from before placement. */
  subscriptionId?: string;
}

/** One durable instance per slug: the host refuses a second start while one runs. */
export function instanceIdForSlug(slug: string): string {
  return `slug-${slug}`;
}

/** Recording is Shire's own storage: a short retry covers a blip. */
const RECORD_RETRY = new df.RetryOptions(1_000, 5);

export function checkOperationInput<T extends OperationInput>(
  input: unknown,
  kind: OperationKind,
  required: (keyof T)[],
): T {
  const candidate = input as Partial<T> | null;
  if (
    !candidate ||
    typeof candidate.operationId !== "string" ||
    typeof candidate.slug !== "string" ||
    candidate.kind !== kind
  ) {
    throw new TypeError(`${kind} needs { operationId, slug, kind: "${kind}", actor, request, ... }.`);
  }
  for (const key of required) if (candidate[key] === undefined) throw new TypeError(`${kind} needs '${String(key)}'.`);
  return candidate as T;
}

export type Outcome = "succeeded" | "failed" | "canceled";

export function outcomeOf(walk: WalkResult): Outcome {
  return walk.canceled ? "canceled" : walk.failed.length > 0 ? "failed" : "succeeded";
}

/** One line for the operation record: what happened, and for a failure what to do. */
export function outcomeMessage(
  verb: string,
  slug: string,
  walk: WalkResult,
  steps: OperationStep[] = walk.steps,
): string {
  const count = (status: OperationStep["status"]) => steps.filter((step) => step.status === status).length;
  if (walk.canceled) {
    return `${verb} of ${slug} canceled: ${count("done")} step(s) done, ${count("canceled")} canceled${count("failed") ? `, ${count("failed")} failed` : ""}. Completed steps are kept.`;
  }
  if (walk.failed.length === 0) return `${verb} of ${slug} done: ${steps.length} steps.`;
  const first = steps.find((step) => step.id === walk.failed[0]);
  return (
    `${verb} of ${slug} failed at ${walk.failed.join(", ")}${first?.error ? ` (${first.error})` : ""}; ${count("skipped")} dependent step(s) skipped. ` +
    "Completed steps are kept: fix the cause and run it again to continue."
  );
}

export function* recordProgress(
  context: OrchestrationContext,
  input: OperationInput,
  state: SlugState,
  extra: Partial<
    Omit<OperationProgressInput, "operationId" | "slug" | "kind" | "actor" | "request" | "state" | "updatedAt">
  > = {},
): Generator<Task, void, unknown> {
  const progress: OperationProgressInput = {
    operationId: input.operationId,
    slug: input.slug,
    kind: input.kind,
    actor: input.actor,
    request: input.request,
    ...(input.subscriptionId ? { subscriptionId: input.subscriptionId } : {}),
    state,
    updatedAt: context.df.currentUtcDateTime.toISOString(),
    ...extra,
  };
  yield context.df.callActivityWithRetry(RECORD_OPERATION_PROGRESS, RECORD_RETRY, progress);
}

export function* recordResult(
  context: OrchestrationContext,
  input: OperationInput,
  result: Omit<OperationResultInput, "operationId" | "slug" | "kind" | "actor" | "request" | "finishedAt">,
): Generator<Task, void, unknown> {
  const record: OperationResultInput = {
    operationId: input.operationId,
    slug: input.slug,
    kind: input.kind,
    actor: input.actor,
    request: input.request,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
    ...(input.trace ? { trace: input.trace } : {}),
    ...(input.subscriptionId ? { subscriptionId: input.subscriptionId } : {}),
    ...result,
  };
  yield context.df.callActivityWithRetry(RECORD_OPERATION_RESULT, RECORD_RETRY, record);
}

/** What every operation's orchestration returns (and the status API reads when the record lags). */
export interface OperationOutput {
  operationId: string;
  status: Outcome;
  failedSteps: string[];
  message: string;
  steps: OperationStep[];
}

/** What an operation's orchestration returns: its outcome and the steps it walked. */
export function operationOutput(
  operationId: string,
  status: Outcome,
  walked: { failed: string[]; steps: OperationStep[] },
  message: string,
): OperationOutput {
  return { operationId, status, failedSteps: walked.failed, message, steps: walked.steps };
}
