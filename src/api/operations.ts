/**
 * Operation routes: the stored record, merged while it runs with the orchestration's live custom
 * status, so an operator sees every step's state and duration as it happens.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient, DurableOrchestrationStatus } from "durable-functions";
import { validateSlug } from "../model/validate";
import { OperationStore, slugOfOperation, type OperationRecord, type OperationStep } from "../operations/records";
import { instanceIdForSlug } from "../../orchestrations/install";
import type { WalkStatus } from "../../orchestrations/plan-walker";
import { apiError, json, withErrors } from "./responses";

const ACTIVE_RUNTIME_STATUSES = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

export interface RunningOperation {
  operationId: string;
  kind: string;
  runtimeStatus: string;
}

/** The durable status of an instance, or undefined when the host has none (getStatus throws on 404). */
async function statusOf(
  client: DurableClient,
  instanceId: string,
  showInput: boolean,
): Promise<DurableOrchestrationStatus | undefined> {
  try {
    return await client.getStatus(instanceId, { showInput });
  } catch {
    return undefined;
  }
}

/** The operation currently running on a slug, read from its durable instance's input and status. */
export async function runningOperation(client: DurableClient, slug: string): Promise<RunningOperation | undefined> {
  const status = await statusOf(client, instanceIdForSlug(slug), true);
  if (!status || !ACTIVE_RUNTIME_STATUSES.has(String(status.runtimeStatus))) return undefined;
  const input = (status.input ?? {}) as { operationId?: unknown };
  const custom = (status.customStatus ?? {}) as { operationId?: unknown; kind?: unknown };
  const operationId =
    typeof input.operationId === "string"
      ? input.operationId
      : typeof custom.operationId === "string"
        ? custom.operationId
        : "unknown";
  const kind = typeof custom.kind === "string" ? custom.kind : String(status.name);
  return { operationId, kind, runtimeStatus: String(status.runtimeStatus) };
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

/** Live step states over the stored ones (which keep titles and kinds). */
export function mergeSteps(stored: OperationStep[], live: OperationStep[]): OperationStep[] {
  const liveById = new Map(live.map((step) => [step.id, step]));
  const merged = stored.map((step) => ({ ...step, ...liveById.get(step.id) }));
  const known = new Set(stored.map((step) => step.id));
  return [...merged, ...live.filter((step) => !known.has(step.id))];
}

export function progressMessage(steps: OperationStep[]): string {
  const count = (status: OperationStep["status"]) => steps.filter((step) => step.status === status).length;
  const failed = count("failed");
  return `${count("done")}/${steps.length} steps done, ${count("running")} running${failed ? `, ${failed} failed` : ""}${count("skipped") ? `, ${count("skipped")} skipped` : ""}.`;
}

/**
 * A record still marked running is brought up to date from its durable instance. The instance id
 * is per slug, so the instance only counts while its input names this operation.
 */
export async function withLiveStatus(client: DurableClient, record: OperationRecord): Promise<OperationRecord> {
  if (record.status !== "running" && record.status !== "notStarted") return record;
  const status = await statusOf(client, record.instanceId, true);
  if (!status || (status.input as { operationId?: unknown } | null)?.operationId !== record.id) return record;
  const runtimeStatus = String(status.runtimeStatus);
  const updatedAt = isoOf(status.lastUpdatedTime, record.updatedAt);
  const live = isWalkStatusFor(status.customStatus, record.id)
    ? mergeSteps(record.steps, status.customStatus.steps)
    : record.steps;
  const output = status.output as
    { operationId?: unknown; status?: unknown; message?: unknown; steps?: unknown } | null | undefined;
  if (output && output.operationId === record.id && (output.status === "succeeded" || output.status === "failed")) {
    // Finished, but the final record write has not landed (or failed): the output has it all.
    const steps = Array.isArray(output.steps) ? mergeSteps(record.steps, output.steps as OperationStep[]) : live;
    return {
      ...record,
      status: output.status,
      message: typeof output.message === "string" ? output.message : record.message,
      steps,
      updatedAt,
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
      status: "failed",
      message: `The orchestration ${runtimeStatus.toLowerCase()}: ${reason}`,
      steps: live,
      updatedAt,
    };
  }
  if (live === record.steps) return record;
  return { ...record, status: "running", message: progressMessage(live), steps: live, updatedAt };
}

async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id;
  const record = slugOfOperation(id) ? await OperationStore.fromEnv().getOperation(id) : undefined;
  if (!record) return apiError(404, "OperationNotFound", `No operation '${id}'.`);
  return json(200, await withLiveStatus(df.getClient(context), record));
}

async function listOperations(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const slug = request.query.get("slug") ?? undefined;
  if (slug !== undefined) {
    const problems = validateSlug(slug);
    if (problems.length > 0) return apiError(400, "InvalidRequest", `'${slug}' is not a valid slug.`, problems);
  }
  const records = await OperationStore.fromEnv().listOperations(slug);
  if (slug !== undefined && records.length === 0)
    return apiError(404, "SlugNotFound", `No operations for slug '${slug}'.`);
  const client = df.getClient(context);
  return json(200, { operations: await Promise.all(records.map((record) => withLiveStatus(client, record))) });
}

app.http("getOperation", {
  route: "operations/{id}",
  methods: ["GET"],
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: withErrors(getOperation),
});
app.http("listOperations", {
  route: "operations",
  methods: ["GET"],
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: withErrors(listOperations),
});
