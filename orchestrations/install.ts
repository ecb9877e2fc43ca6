/**
 * `install`: converge a slug's whole footprint to its plan (computed by the HTTP starter: pure,
 * no secrets), then record the outcome. One instance per slug (`slug-<slug>`), so a second
 * operation on a busy slug is refused by the durable host. No SDK, no I/O: only durable calls.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import type { SlugPlan } from "../src/model/plan";
import type { SlugSpec } from "../src/model/spec";
import type { OperationStep } from "../src/operations/records";
import { RECORD_OPERATION_RESULT, type OperationResultInput } from "../src/operations/result";
import { walkPlan, type RetrySettings } from "./plan-walker";
import "./step-runner"; // registers the step instances the walker starts

export const INSTALL_ORCHESTRATION = "install";

export interface InstallInput {
  operationId: string;
  slug: string;
  actor: string;
  /** The validated spec (no secrets: channel tokens go to the vault out of band). */
  spec: SlugSpec;
  plan: SlugPlan;
  /** Overrides the walker's retry policy (tests shrink it). */
  retry?: RetrySettings;
}

export interface InstallOutput {
  operationId: string;
  status: "succeeded" | "failed";
  failedSteps: string[];
  message: string;
  steps: OperationStep[];
}

/** One durable instance per slug: the host refuses a second start while one runs. */
export function instanceIdForSlug(slug: string): string {
  return `slug-${slug}`;
}

/** Recording the result is Shire's own storage: a short retry covers a blip. */
const RECORD_RETRY = new df.RetryOptions(1_000, 5);

export function validateInstallInput(input: unknown): InstallInput {
  const candidate = input as Partial<InstallInput> | null;
  if (
    !candidate ||
    typeof candidate.operationId !== "string" ||
    typeof candidate.slug !== "string" ||
    !candidate.spec ||
    !Array.isArray(candidate.plan?.nodes)
  ) {
    throw new TypeError("install needs { operationId, slug, actor, spec, plan: { nodes } }.");
  }
  return candidate as InstallInput;
}

export function installMessage(slug: string, steps: OperationStep[], failed: string[]): string {
  if (failed.length === 0) return `Installed ${slug}: ${steps.length} steps done.`;
  const first = steps.find((step) => step.id === failed[0]);
  const skipped = steps.filter((step) => step.status === "skipped").length;
  return (
    `Install of ${slug} failed at ${failed.join(", ")}${first?.error ? ` (${first.error})` : ""}; ${skipped} dependent step(s) skipped. ` +
    "Completed steps are kept: fix the cause and install again to continue."
  );
}

const install: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = validateInstallInput(context.df.getInput());
  const walk = yield* walkPlan(context, input.plan.nodes, {
    operationId: input.operationId,
    slug: input.slug,
    kind: "install",
    retry: input.retry,
  });
  const status = walk.failed.length > 0 ? "failed" : "succeeded";
  const message = installMessage(input.slug, walk.steps, walk.failed);
  const fqdn = walk.results.containerApp?.outputs.fqdn;
  const record: OperationResultInput = {
    operationId: input.operationId,
    slug: input.slug,
    kind: "install",
    actor: input.actor,
    request: input.spec,
    status,
    message,
    steps: walk.steps,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
    image: input.spec.image,
    region: input.spec.region,
    resourceGroup: String(
      input.plan.nodes.find((node) => node.id === "resourceGroup")?.desired.name ?? `claw-${input.slug}`,
    ),
    ...(typeof fqdn === "string" ? { fqdn } : {}),
  };
  yield context.df.callActivityWithRetry(RECORD_OPERATION_RESULT, RECORD_RETRY, record);
  const output: InstallOutput = {
    operationId: input.operationId,
    status,
    failedSteps: walk.failed,
    message,
    steps: walk.steps,
  };
  return output;
};

df.app.orchestration(INSTALL_ORCHESTRATION, install);
