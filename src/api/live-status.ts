/**
 * An operation record brought up to date from its running orchestration: the walker's custom
 * status (every step's live state), or the orchestration's output when it finished but its final
 * record write has not landed.
 */
import type { DurableClient } from "durable-functions";
import type { OperationRecord, OperationStep, UpgradeDetails } from "../operations/records";
import { instanceIdForSlug } from "../../orchestrations/operation";
import type { WalkStatus } from "../../orchestrations/plan-walker";

const ACTIVE_RUNTIME_STATUSES = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

export interface RunningOperation {
  operationId: string;
  kind: string;
  runtimeStatus: string;
  /** The walker's stage (teardown: retire, retired, destroy, restore). */
  stage?: string;
}

async function statusOf(client: DurableClient, instanceId: string) {
  try {
    return await client.getStatus(instanceId, { showInput: true });
  } catch {
    return undefined; // getStatus rejects on 404
  }
}

/** The operation currently running on a slug, read from its durable instance's input and status. */
export async function runningOperation(client: DurableClient, slug: string): Promise<RunningOperation | undefined> {
  const status = await statusOf(client, instanceIdForSlug(slug));
  if (!status || !ACTIVE_RUNTIME_STATUSES.has(String(status.runtimeStatus))) return undefined;
  const input = (status.input ?? {}) as { operationId?: unknown; kind?: unknown };
  const custom = (status.customStatus ?? {}) as { operationId?: unknown; kind?: unknown; stage?: unknown };
  const operationId =
    typeof input.operationId === "string"
      ? input.operationId
      : typeof custom.operationId === "string"
        ? custom.operationId
        : "unknown";
  const kind =
    typeof input.kind === "string" ? input.kind : typeof custom.kind === "string" ? custom.kind : String(status.name);
  return {
    operationId,
    kind,
    runtimeStatus: String(status.runtimeStatus),
    ...(typeof custom.stage === "string" && custom.operationId === operationId ? { stage: custom.stage } : {}),
  };
}

function isoOf(value: unknown, fallback: string): string {
  const time = value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isFinite(time) ? new Date(time).toISOString() : fallback;
}

function isWalkStatusFor(value: unknown, operationId: string): value is WalkStatus {
  const status = value as Partial<WalkStatus> | null | undefined;
  return (
    typeof status === "object" && status !== null && status.operationId === operationId && Array.isArray(status.steps)
  );
}

/**
 * Live step states over the stored ones (which keep titles and kinds). A status that left its
 * finished steps out to fit the budget says so: a stored step it does not list is done.
 */
export function mergeSteps(stored: OperationStep[], live: OperationStep[], omittedDone = false): OperationStep[] {
  const liveById = new Map(live.map((step) => [step.id, step]));
  const merged = stored.map((step) => {
    const current = liveById.get(step.id);
    if (current) return { ...step, ...current };
    return omittedDone && step.status === "pending" ? { ...step, status: "done" as const } : step;
  });
  const known = new Set(stored.map((step) => step.id));
  return [...merged, ...live.filter((step) => !known.has(step.id))];
}

export function progressMessage(steps: OperationStep[], phase?: string): string {
  const count = (status: OperationStep["status"]) => steps.filter((step) => step.status === status).length;
  const parts = [`${count("done")}/${steps.length} steps done`, `${count("running")} running`];
  for (const status of ["failed", "skipped", "canceled"] as const)
    if (count(status)) parts.push(`${count(status)} ${status}`);
  return `${phase === "canceling" ? "Canceling: " : ""}${parts.join(", ")}.`;
}

/**
 * A record still marked running, brought up to date from its durable instance. The instance id
 * is per slug, so the instance only counts while its input names this operation.
 */
export async function withLiveStatus(client: DurableClient, record: OperationRecord): Promise<OperationRecord> {
  if (record.status !== "running" && record.status !== "notStarted") return record;
  const status = await statusOf(client, record.instanceId);
  if (!status || (status.input as { operationId?: unknown } | null)?.operationId !== record.id) return record;
  const runtimeStatus = String(status.runtimeStatus);
  const updatedAt = isoOf(status.lastUpdatedTime, record.updatedAt);
  const custom = status.customStatus;
  const live = isWalkStatusFor(custom, record.id)
    ? mergeSteps(record.steps, custom.steps, custom.omittedDone)
    : record.steps;
  const output = status.output as
    | { operationId?: unknown; status?: unknown; message?: unknown; steps?: unknown; upgrade?: unknown }
    | null
    | undefined;
  if (
    output &&
    output.operationId === record.id &&
    ["succeeded", "failed", "canceled"].includes(String(output.status))
  ) {
    // Finished, but the final record write has not landed (or failed): the output has it all.
    const steps = Array.isArray(output.steps) ? mergeSteps(record.steps, output.steps as OperationStep[]) : live;
    return {
      ...record,
      status: output.status as OperationRecord["status"],
      message: typeof output.message === "string" ? output.message : record.message,
      steps,
      updatedAt,
      ...(output.upgrade && typeof output.upgrade === "object" ? { upgrade: output.upgrade as UpgradeDetails } : {}),
    };
  }
  if (runtimeStatus === "Failed" || runtimeStatus === "Terminated") {
    // The host words an orchestrator's exception "Orchestrator function 'install' failed: <error>".
    const reason =
      typeof status.output === "string"
        ? status.output
            .split("\n")[0]
            .replace(/^Orchestrator function '[^']*' failed:\s*/, "")
            .slice(0, 300)
        : runtimeStatus.toLowerCase();
    return {
      ...record,
      status: runtimeStatus === "Terminated" ? "canceled" : "failed",
      message: `The orchestration ${runtimeStatus.toLowerCase()}: ${reason}`,
      steps: live,
      updatedAt,
    };
  }
  if (!ACTIVE_RUNTIME_STATUSES.has(runtimeStatus)) return record;
  const phase = isWalkStatusFor(custom, record.id) ? custom.phase : undefined;
  return { ...record, status: "running", message: progressMessage(live, phase), steps: live, updatedAt };
}
