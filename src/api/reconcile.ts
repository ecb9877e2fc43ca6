/**
 * Records that an orchestration could not write itself. An operation stopped from outside (its
 * instance terminated, or failed outside the walk) never records its result, and its slug would
 * read `installing` forever. When the slug's instance is no longer running the operation, the
 * records are settled from what the durable host knows: the instance's output or end, and each
 * step instance's own end. Nothing is settled while a step instance still runs (it finishes its
 * attempt and stops at its next check): until then reads show the live state.
 */
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { OPERATION_RULES, type SlugState } from "../operations/lifecycle";
import type { OperationRecord, OperationStep, OperationStore, SlugRecord } from "../operations/records";
import { instanceIdForSlug } from "../../orchestrations/operation";
import { stepInstanceId } from "../../orchestrations/step-events";
import { withLiveStatus } from "./live-status";

/** States an operation holds while its orchestration runs: each kind's running state, and a teardown's later phases. */
const IN_FLIGHT: ReadonlySet<SlugState> = new Set([
  ...Object.values(OPERATION_RULES).map((rule) => rule.running),
  "retired",
  "destroying",
]);
export function isInFlight(state: SlugState): boolean {
  return IN_FLIGHT.has(state);
}
const LIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

export async function statusOf(
  client: DurableClient,
  instanceId: string,
  showInput = false,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput });
  } catch {
    return undefined; // getStatus rejects on 404
  }
}

export function isLive(status: DurableOrchestrationStatus | undefined): boolean {
  return status !== undefined && LIVE.has(String(status.runtimeStatus));
}

/** The slug record, settled if its operation ended without saying so. */
export async function reconcileSlug(
  store: OperationStore,
  client: DurableClient,
  slug: string,
): Promise<SlugRecord | undefined> {
  const record = await store.getSlug(slug);
  if (!record || !IN_FLIGHT.has(record.state)) return record;
  const instance = await statusOf(client, instanceIdForSlug(slug), true);
  if (isLive(instance) && (instance!.input as { operationId?: unknown } | null)?.operationId === record.lastOperationId)
    return record;
  const operation = await store.getOperation(record.lastOperationId);
  if (!operation) return record;
  const settled = await settleOperation(store, client, operation);
  if (!settled) return record;
  // The footprint is wherever the stopped operation left it: failed, to install or tear down again.
  const state: SlugState = settled.status === "succeeded" ? OPERATION_RULES[settled.kind].settles.succeeded : "failed";
  return store.updateSlug(slug, (current) => {
    if (!current || current.lastOperationId !== operation.id || !IN_FLIGHT.has(current.state)) return current!;
    const { destroyAt: _destroyAt, ...rest } = current;
    return { ...rest, state, version: settledVersion(settled, state, current.version), updatedAt: settled.updatedAt };
  });
}

/**
 * The slug's version once `settled` ended in `state`: a succeeded install or upgrade (its result
 * write lost, the instance finished) runs the image it asked for; destroyed runs none.
 */
function settledVersion(settled: OperationRecord, state: SlugState, current: string | null): string | null {
  if (state === "destroyed") return null;
  const image = (settled.request as { image?: unknown } | undefined)?.image;
  const converges = settled.kind === "install" || settled.kind === "upgrade";
  return settled.status === "succeeded" && converges && typeof image === "string" ? image : current;
}

/**
 * Settle an operation whose instance has ended without recording it; undefined while one of its
 * steps still runs (or the instance does).
 */
export async function settleOperation(
  store: OperationStore,
  client: DurableClient,
  record: OperationRecord,
): Promise<OperationRecord | undefined> {
  if (record.status !== "running" && record.status !== "notStarted") return record;
  const instance = await statusOf(client, record.instanceId, true);
  const ours = (instance?.input as { operationId?: unknown } | null)?.operationId === record.id;
  if (ours && isLive(instance)) return undefined;
  const live = ours ? await withLiveStatus(client, record) : record;
  const output = instance?.output as { operationId?: unknown } | null | undefined;
  if (ours && typeof output === "object" && output?.operationId === record.id) {
    // The instance finished (its output says how) but its own record write did not land.
    return store.updateOperation(record.id, () => live);
  }
  const steps: OperationStep[] = [];
  for (const step of live.steps) {
    if (step.status !== "running") {
      steps.push(
        step.status === "pending" ? { ...step, status: "canceled", error: "canceled before it started" } : step,
      );
      continue;
    }
    const stepInstance = await statusOf(client, stepInstanceId(record.id, step.id));
    if (isLive(stepInstance)) return undefined; // still finishing its attempt
    const output = stepInstance?.output as { status?: string; attempts?: number } | undefined;
    const status = output?.status === "done" ? "done" : output?.status === "failed" ? "failed" : "canceled";
    steps.push({ ...step, status, ...(output?.attempts ? { attempts: output.attempts } : {}) });
  }
  const ended = String(instance?.runtimeStatus ?? "gone").toLowerCase();
  const reason =
    typeof instance?.output === "string"
      ? `: ${instance.output
          .split("\n")[0]
          .replace(/^Orchestrator function '[^']*' failed:\s*/, "")
          .slice(0, 300)}`
      : "";
  const status = ended === "terminated" ? "canceled" : "failed";
  const updatedAt = new Date().toISOString();
  return store.updateOperation(record.id, (current) => ({
    ...(current ?? record),
    status,
    message: `The ${record.kind} was ${ended === "terminated" ? "terminated" : `stopped (${ended})`}${reason}; its steps stopped where the record shows. The slug is left as failed: install or tear it down again.`,
    steps,
    updatedAt,
  }));
}
