/**
 * `install`: converge a slug's whole footprint to its plan and prune what the plan dropped (the
 * walk is computed by the starter: pure, no secrets), then record the outcome. No SDK, no I/O:
 * only durable calls.
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
import { logOnce } from "../src/telemetry/trace";
import "./step-runner"; // registers the step instances the walker starts

export const INSTALL_ORCHESTRATION = "install";

export interface InstallInput extends OperationInput {
  kind: "install";
  /** The validated spec (no secrets: channel tokens go to the vault out of band). */
  spec: SlugSpec;
  resourceGroup: string;
  /** Every plan node to converge, then the removals of what the plan dropped. */
  steps: WalkStep[];
  /** Outputs of applied nodes (references of removal steps resolve from them). */
  knownOutputs: Record<string, Outputs>;
}

const install: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = checkOperationInput<InstallInput>(context.df.getInput(), "install", ["spec", "steps", "knownOutputs"]);
  const walk = yield* walkPlan(context, input.steps, {
    operationId: input.operationId,
    slug: input.slug,
    subscriptionId: input.subscriptionId,
    kind: "install",
    retry: input.retry,
    trace: input.trace,
    knownOutputs: input.knownOutputs,
  });
  const status = outcomeOf(walk);
  const message = outcomeMessage("Install", input.slug, walk);
  const fqdn = walk.results.containerApp?.outputs.fqdn;
  yield* recordResult(context, input, {
    status,
    message,
    steps: walk.steps,
    image: input.spec.image,
    region: input.spec.region,
    resourceGroup: input.resourceGroup,
    applied: walk.applied,
    removed: walk.removed,
    spec: input.spec,
    ...(typeof fqdn === "string" ? { fqdn } : {}),
  });
  logOnce(context, `Operation ${input.operationId}: ${message}`);
  return operationOutput(input.operationId, status, walk, message);
};

df.app.orchestration(INSTALL_ORCHESTRATION, install);
