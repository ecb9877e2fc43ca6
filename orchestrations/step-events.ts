/**
 * What the walker and the step instances say to each other (names, inputs, events) and the
 * retry policy: pure, no function registrations, so tests and tools can import it freely.
 */
import type { ActivityInput, ActivityResult } from "../src/contract/activity";

export const RUN_PLAN_STEP = "runPlanStep";
export const START_PLAN_STEPS = "startPlanSteps";
export const REPORT_PLAN_STEP = "reportPlanStep";
/** Asked by a step before each retry: is its operation still going? */
export const CHECK_PLAN_STEP = "checkPlanStep";
/** The one event name the walker waits on: steps' reports, and the operator's cancel. */
export const PLAN_STEP_EVENT = "planStep";

export interface RetrySettings {
  firstRetryIntervalMs: number;
  backoffCoefficient: number;
  maxRetryIntervalMs: number;
  /** Deliveries of a step failing transiently (throttling, 5xx, busy) before it fails. */
  maxAttempts: number;
  /** Deliveries of a step waiting on propagation (Entra replication, RBAC) before it fails. */
  maxPropagationAttempts?: number;
  /**
   * The longest wait between deliveries of a step waiting on propagation (or a revision to
   * start). Such a wait ends when Azure finishes on its own, at a moment nobody announces: the
   * step finds out on its next delivery, so the wait between deliveries is what it overshoots
   * by. A look costs one read, so these look more often than a throttled step retries.
   */
  maxPropagationIntervalMs?: number;
}

/**
 * 2 s, 4 s, 8 s ... capped at 60 s: eight deliveries span about three minutes. Propagation waits
 * double the same way but are capped at 15 s: forty-five deliveries, about ten and a half
 * minutes (Azure documents up to ten for RBAC), and a wait that ends at two minutes is found
 * within 15 s of its end rather than within a minute.
 */
export const DEFAULT_RETRY: RetrySettings = {
  firstRetryIntervalMs: 2_000,
  backoffCoefficient: 2,
  maxRetryIntervalMs: 60_000,
  maxAttempts: 8,
  maxPropagationAttempts: 45,
  maxPropagationIntervalMs: 15_000,
};

/**
 * The wait before delivery `attempt + 1`, after `attempt` failed deliveries: the backoff (capped
 * lower for a propagation wait), or longer if the service asked for longer (Retry-After).
 */
export function retryDelayMs(
  settings: RetrySettings,
  attempt: number,
  retryAfterMs?: number,
  retryClass?: "transient" | "propagation",
): number {
  const cap =
    retryClass === "propagation"
      ? Math.min(settings.maxRetryIntervalMs, settings.maxPropagationIntervalMs ?? settings.maxRetryIntervalMs)
      : settings.maxRetryIntervalMs;
  const backoff = Math.min(settings.firstRetryIntervalMs * Math.pow(settings.backoffCoefficient, attempt - 1), cap);
  return Math.max(backoff, retryAfterMs ?? 0);
}

export interface StepRunInput {
  /** The walker's instance, which the reports go to. */
  parentInstanceId: string;
  operationId: string;
  nodeId: string;
  activityName: string;
  activityInput: ActivityInput;
  retry: RetrySettings;
}

export type StepEvent =
  | { operationId: string; nodeId: string; kind: "retrying"; attempts: number; retryAt: string; error: string }
  | { operationId: string; nodeId: string; kind: "finished"; attempts: number; result: ActivityResult }
  | { operationId: string; nodeId: string; kind: "failed"; attempts: number; error: string }
  /** The step stopped before another attempt because its operation is being canceled (or is gone). */
  | { operationId: string; nodeId: string; kind: "canceled"; attempts: number; error?: string };

/** The operator asks the walker to stop (`POST /api/operations/{id}/cancel`); raised on PLAN_STEP_EVENT. */
export interface CancelEvent {
  kind: "cancel";
  operationId: string;
  /** Who asked, for the record. */
  actor: string;
}

export type WalkerEvent = StepEvent | CancelEvent;

/** A step's check before it goes on: whether its operation still wants it. */
export interface StepCheck {
  /** Stop now: the operation is being canceled, or its instance has ended (terminated, restarted). */
  stop: boolean;
  reason?: string;
}

/** The instance running one step of one operation: unique per operation, so never reused. */
export function stepInstanceId(operationId: string, nodeId: string): string {
  return `${operationId}:${nodeId}`;
}

/** Errors shown in status and records are one line of at most this many characters. */
export const MAX_ERROR_LENGTH = 300;

/**
 * One trimmed line for status and records. A durable task failure reads
 * "Activity function 'x' failed: <message> \n <stack>": keep the activity's own message.
 */
export function shortError(message: string): string {
  const line = message
    .split("\n")[0]
    .replace(/^Activity function '[^']*' failed:\s*/, "")
    .replace(/^ActivityFailed: /, "")
    .trim();
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 3)}...` : line;
}
