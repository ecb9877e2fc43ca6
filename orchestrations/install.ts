/**
 * `install`: converge a slug's whole footprint to its plan (computed by the HTTP starter, pure,
 * no secrets), then record the outcome. One instance per slug (`slug-<slug>`), so a second
 * operation on a busy slug is refused by the durable host.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { SlugPlan } from "../src/model/plan";
import type { SlugSpec } from "../src/model/spec";
import { walkPlan, type RetrySettings } from "./plan-walker";
import { RECORD_OPERATION_RESULT, type OperationResultInput } from "../src/operations/activity";

export const INSTALL_ORCHESTRATION = "install";

export interface InstallInput {
  operationId: string;
  slug: string;
  actor: string;
  spec: SlugSpec;
  plan: SlugPlan;
  retry?: RetrySettings;
}

export interface InstallOutput {
  operationId: string;
  status: "succeeded" | "failed";
  failedSteps: string[];
  message: string;
}

export function instanceIdForSlug(slug: string): string {
  return `slug-${slug}`;
}

const install: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<InstallInput>();
  const walk = yield* walkPlan(context, input.plan.nodes, { operationId: input.operationId, slug: input.slug, kind: "install", retry: input.retry });
  const status = walk.failed.length > 0 ? "failed" : "succeeded";
  const message =
    status === "succeeded"
      ? `Installed ${input.slug}: ${walk.steps.length} steps done.`
      : `Install of ${input.slug} failed at ${walk.failed.join(", ")}: ${walk.steps.find((step) => step.id === walk.failed[0])?.error ?? ""}. Completed steps are kept; fix the cause and install again to continue.`;
  const record: OperationResultInput = {
    operationId: input.operationId,
    slug: input.slug,
    kind: "install",
    status,
    message,
    steps: walk.steps,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
    image: input.spec.image,
    region: input.spec.region,
    resourceGroup: String(input.plan.nodes.find((node) => node.id === "resourceGroup")?.desired.name ?? `claw-${input.slug}`),
    fqdn: typeof walk.results.containerApp?.outputs.fqdn === "string" ? walk.results.containerApp.outputs.fqdn : undefined,
  };
  yield context.df.callActivityWithRetry(RECORD_OPERATION_RESULT, new df.RetryOptions(1000, 5), record);
  const output: InstallOutput = { operationId: input.operationId, status, failedSteps: walk.failed, message };
  return output;
};

df.app.orchestration(INSTALL_ORCHESTRATION, install);
