/**
 * `repair`: converge only what drifted. A fresh audit of the slug (read-only) names the plan nodes
 * that differ or are missing; only those are walked (`ensure`), so a slug without drift gets no
 * write and the app is rewritten (a new revision, a restart) only when the app itself drifted.
 * Resources the plan does not know are reported by the audit, never removed here. A second audit
 * at the end refreshes the slug's drift record.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { Outputs } from "../src/contract/reference";
import type { SlugSpec } from "../src/model/spec";
import { walkPlan, type WalkStep } from "./plan-walker";
import {
  checkOperationInput,
  outcomeMessage,
  outcomeOf,
  recordResult,
  type OperationInput,
  operationOutput,
} from "./operation";
import { AUDIT_SLUG_DRIFT, type SlugAuditResult } from "./drift-audit";
import { logOnce } from "../src/telemetry/trace";
import "./step-runner";

export const REPAIR_ORCHESTRATION = "repair";

export interface RepairInput extends OperationInput {
  kind: "repair";
  spec: SlugSpec;
  resourceGroup: string;
  /** Every plan node's ensure step; the audit picks the ones to walk. */
  steps: WalkStep[];
  knownOutputs: Record<string, Outputs>;
}

const AUDIT_RETRY = new df.RetryOptions(2_000, 4);

/** The steps for what drifted, each waiting only on drifted steps (the rest are in place). */
export function repairSteps(steps: WalkStep[], drifted: string[]): WalkStep[] {
  const chosen = new Set(drifted);
  return steps
    .filter((step) => chosen.has(step.id))
    .map((step) => ({ ...step, dependsOn: step.dependsOn.filter((id) => chosen.has(id)) }));
}

const repair: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = checkOperationInput<RepairInput>(context.df.getInput(), "repair", ["steps", "knownOutputs"]);
  const before = (yield context.df.callActivityWithRetry(AUDIT_SLUG_DRIFT, AUDIT_RETRY, {
    slug: input.slug,
    auditId: input.operationId,
  })) as SlugAuditResult;
  const walk = yield* walkPlan(context, repairSteps(input.steps, before.nodes), {
    operationId: input.operationId,
    slug: input.slug,
    subscriptionId: input.subscriptionId,
    kind: "repair",
    retry: input.retry,
    trace: input.trace,
    knownOutputs: input.knownOutputs,
  });
  if (walk.steps.length > 0)
    yield context.df.callActivityWithRetry(AUDIT_SLUG_DRIFT, AUDIT_RETRY, {
      slug: input.slug,
      auditId: input.operationId,
    });
  const status = outcomeOf(walk);
  const message =
    walk.steps.length === 0
      ? `Nothing of ${input.slug} drifted: nothing written.${before.extra ? ` ${before.extra} resource(s) the plan does not know are left as they are.` : ""}`
      : outcomeMessage("Repair", input.slug, walk);
  yield* recordResult(context, input, {
    status,
    message,
    steps: walk.steps,
    applied: walk.applied,
    removed: walk.removed,
  });
  logOnce(context, `Operation ${input.operationId}: ${message}`);
  return operationOutput(input.operationId, status, walk, message);
};

df.app.orchestration(REPAIR_ORCHESTRATION, repair);
