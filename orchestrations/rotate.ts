/**
 * `rotate`: rotate a slug's secrets without a moment without a working credential, as a walk of
 * phases (the starter builds it: src/operations/rotation.ts): each chosen secret's new credential
 * staged in the vault, the app restarted once onto all of them and seen healthy, then what each
 * replaced revoked; old versions past their grace period disabled alongside. Every phase is an
 * idempotent activity (activities/rotation/) run by the walker's step instances (retries,
 * Retry-After, reports, cancel); a crash anywhere resumes from the history, and a rotation that
 * failed is carried on by the next one from what the vault says (a version left `staged`).
 *
 * At the end: the rotation record (per secret: version, when written, next due, this outcome),
 * then the operation record and the slug back to `installed` (a rotation that failed leaves the
 * slug running on credentials that work). No SDK, no I/O: only durable calls.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { OperationStep } from "../src/operations/records";
import { RECORD_ROTATION, type RecordRotationInput, type RotationKind } from "../src/contract/rotation";
import { walkPlan, type WalkStep } from "./plan-walker";
import {
  checkOperationInput,
  outcomeMessage,
  outcomeOf,
  recordResult,
  type OperationInput,
  operationOutput,
} from "./operation";
import "./step-runner";

export const ROTATE_ORCHESTRATION = "rotate";

export interface RotateInput extends OperationInput {
  kind: "rotate";
  vaultName: string;
  /** Every secret of the slug (the rotation record lists them all). */
  secrets: { name: string; kind: RotationKind }[];
  /** The ones this operation rotates. */
  rotating: string[];
  steps: WalkStep[];
}

const RECORD_RETRY = new df.RetryOptions(1_000, 5);

const rotate: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = checkOperationInput<RotateInput>(context.df.getInput(), "rotate", ["steps", "secrets", "rotating"]);
  const walk = yield* walkPlan(context, input.steps, {
    operationId: input.operationId,
    slug: input.slug,
    subscriptionId: input.subscriptionId,
    kind: "rotate",
    retry: input.retry,
  });
  const status = outcomeOf(walk);
  const message =
    status === "succeeded"
      ? input.rotating.length > 0
        ? `Rotated ${input.rotating.join(", ")} of ${input.slug}: the app runs the new versions, the replaced credentials are revoked.`
        : `Nothing to rotate on ${input.slug}; old versions past their grace period disabled.`
      : `${outcomeMessage("Rotation", input.slug, walk)} The credentials the app runs on still work: what a phase staged is carried on by the next rotation.`;
  const retired = walk.results.retireVersions?.outputs.nextDisableAt;
  const record: RecordRotationInput = {
    slug: input.slug,
    ...(input.subscriptionId ? { subscriptionId: input.subscriptionId } : {}),
    vaultName: input.vaultName,
    secrets: input.secrets,
    operationId: input.operationId,
    outcomes: outcomes(input.rotating, walk.steps, walk.canceled),
    at: context.df.currentUtcDateTime.toISOString(),
    ...(walk.results.retireVersions ? { oldVersionsDisableAt: typeof retired === "string" ? retired : null } : {}),
  };
  yield context.df.callActivityWithRetry(RECORD_ROTATION, RECORD_RETRY, record);
  yield* recordResult(context, input, { status, message, steps: walk.steps });
  return operationOutput(input.operationId, status, walk, message);
};

/** Per secret rotated: done when its revoke phase is; otherwise the first phase that failed says why. */
function outcomes(
  rotating: string[],
  steps: OperationStep[],
  canceled: boolean,
): NonNullable<RecordRotationInput["outcomes"]> {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const result: NonNullable<RecordRotationInput["outcomes"]> = {};
  for (const name of rotating) {
    if (byId.get(`revoke:${name}`)?.status === "done") {
      result[name] = { status: "succeeded" };
      continue;
    }
    const failed = [`stage:${name}`, "restart", `revoke:${name}`]
      .map((id) => byId.get(id))
      .find((step) => step?.status === "failed");
    result[name] = {
      status: canceled ? "canceled" : "failed",
      ...(failed?.error ? { error: `${failed.id}: ${failed.error}` } : {}),
    };
  }
  return result;
}

df.app.orchestration(ROTATE_ORCHESTRATION, rotate);
