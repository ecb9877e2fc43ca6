/**
 * `teardown`: retire first, destroy later, never lose data by surprise (DESIGN.md principle 8).
 *
 * 1. Retire: the `shire-<slug>` group's assignment to the sign-in app goes (nobody new signs
 *    in; operators in `shire-admins` keep theirs), the app stops (no replicas, nothing routed).
 *    Storage, vault, share, identity and the URL stay.
 * 2. Wait out the grace period on a durable timer, racing the operator's control event:
 *    `cancel` restores exactly what retire changed (the slug is installed again, same URL);
 *    `destroyNow` (a teardown with purge during the grace period) ends the wait at once.
 * 3. Destroy: the resource group (everything in it goes with it; the vault is soft-deleted),
 *    the slug's Entra objects, grants outside the group, and with purge the soft-deleted copies.
 *
 * The slug's state follows each phase (retiring, retired until destroyAt, destroying, then
 * destroyed; installed after a cancel). No SDK, no I/O: only durable calls.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { Outputs } from "../src/contract/reference";
import type { OperationStep } from "../src/operations/records";
import { stepCounts, walkPlan, type WalkResult, type WalkStatus, type WalkStep } from "./plan-walker";
import {
  checkOperationInput,
  outcomeMessage,
  outcomeOf,
  recordProgress,
  recordResult,
  type OperationInput,
  operationOutput,
} from "./operation";
import { logOnce } from "../src/telemetry/trace";
import "./step-runner";

export const TEARDOWN_ORCHESTRATION = "teardown";
/** The operator's word during the grace period. */
export const TEARDOWN_CONTROL_EVENT = "teardownControl";

export type TeardownControl =
  | { action: "cancel"; actor: string }
  /** End the grace period now; `purge` also clears soft-deleted copies. */
  | { action: "destroyNow"; purge: boolean; actor: string };

export interface TeardownInput extends OperationInput {
  kind: "teardown";
  purge: boolean;
  /** How long the slug stays retired before it is destroyed. */
  graceMs: number;
  retire: WalkStep[];
  restore: WalkStep[];
  /** The destroy walk without purge, and with it (an operator may ask for purge during the grace period). */
  destroy: WalkStep[];
  destroyWithPurge: WalkStep[];
  knownOutputs: Record<string, Outputs>;
}

const teardown: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = checkOperationInput<TeardownInput>(context.df.getInput(), "teardown", ["retire", "restore", "destroy"]);
  const walk = (stage: string, steps: WalkStep[]) =>
    walkPlan(context, steps, {
      operationId: input.operationId,
      slug: input.slug,
      subscriptionId: input.subscriptionId,
      kind: "teardown",
      stage,
      retry: input.retry,
      trace: input.trace,
      knownOutputs: input.knownOutputs,
    });
  const done: OperationStep[] = [];

  const retire: WalkResult = yield* walk("retire", input.retire);
  done.push(...retire.steps);
  if (retire.canceled) return yield* restore("Teardown canceled while retiring");
  if (retire.failed.length > 0) return yield* finish("failed", outcomeMessage("Retire", input.slug, retire), retire);

  let purge = input.purge;
  if (!purge) {
    const destroyAt = new Date(context.df.currentUtcDateTime.getTime() + input.graceMs);
    yield* recordProgress(context, input, "retired", {
      destroyAt: destroyAt.toISOString(),
      steps: retire.steps,
      message: `Retired: sign-in for shire-${input.slug} removed and the app stopped; data kept. Destroyed at ${destroyAt.toISOString()} unless cancelled (POST /api/slugs/${input.slug}/teardown/cancel).`,
      applied: retire.applied,
      removed: retire.removed,
    });
    const status: WalkStatus & { destroyAt: string } = {
      operationId: input.operationId,
      slug: input.slug,
      kind: "teardown",
      phase: "running",
      stage: "retired",
      destroyAt: destroyAt.toISOString(),
      counts: stepCounts(done),
      steps: done,
    };
    context.df.setCustomStatus(status);
    const timer = context.df.createTimer(destroyAt);
    const control = context.df.waitForExternalEvent(TEARDOWN_CONTROL_EVENT);
    const winner = yield context.df.Task.any([timer, control]);
    if (winner === control) {
      timer.cancel();
      const word = control.result as TeardownControl;
      if (word.action === "cancel") return yield* restore(`Teardown canceled by ${word.actor} during the grace period`);
      purge = word.purge;
    }
  }

  yield* recordProgress(context, input, "destroying", {
    steps: done,
    message: `Destroying ${input.slug}${purge ? " (purge)" : ""}.`,
  });
  const destroy = yield* walk("destroy", purge ? input.destroyWithPurge : input.destroy);
  done.push(...destroy.steps);
  const status = outcomeOf(destroy);
  const message =
    status === "succeeded"
      ? `Destroyed ${input.slug}${purge ? " and purged its soft-deleted vault and directory objects" : "; the vault stays soft-deleted (recoverable) for its retention"}.${notesOf(destroy)}`
      : outcomeMessage("Destroy", input.slug, destroy, destroy.steps);
  return yield* finish(status === "canceled" ? "failed" : status, message, destroy);

  /** Put back exactly what retire changed, and settle as canceled (the slug is installed again). */
  function* restore(reason: string) {
    const restored: WalkResult = yield* walk("restore", input.restore);
    done.push(...restored.steps);
    const ok = restored.failed.length === 0 && !restored.canceled;
    return yield* finish(
      ok ? "canceled" : "failed",
      ok
        ? `${reason}: ${input.slug} restored (sign-in and app back, same URL).`
        : outcomeMessage("Restore", input.slug, restored),
      restored,
    );
  }

  function* finish(status: "succeeded" | "failed" | "canceled", message: string, last: WalkResult) {
    yield* recordResult(context, input, {
      status,
      message,
      steps: done,
      applied: last.applied,
      removed: last.removed,
    });
    logOnce(context, `Operation ${input.operationId}: ${message}`);
    return operationOutput(input.operationId, status, { failed: last.failed, steps: done }, message);
  }
};

function notesOf(walk: WalkResult): string {
  const notes = walk.steps.flatMap((step) => step.notes ?? []);
  return notes.length > 0 ? ` ${notes.join(" ")}` : "";
}

df.app.orchestration(TEARDOWN_ORCHESTRATION, teardown);
