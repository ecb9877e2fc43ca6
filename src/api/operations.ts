/**
 * Operation routes: the stored record, merged while running with the orchestration's live custom
 * status, so an operator watches every step's state and duration.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { OperationStore, slugOfOperation, type OperationRecord } from "../operations/records";
import { instanceIdForSlug } from "../../orchestrations/install";
import type { WalkStatus } from "../../orchestrations/plan-walker";
import { apiError, json } from "./responses";

/** The operation running on a slug, from its durable instance, if any. */
export async function runningOperation(client: DurableClient, slug: string): Promise<{ operationId: string; kind: string; status: string } | undefined> {
  try {
    const status = await client.getStatus(instanceIdForSlug(slug), { showInput: true });
    if (!["Pending", "Running", "ContinuedAsNew", "Suspended"].includes(String(status.runtimeStatus))) return undefined;
    const input = (status.input ?? {}) as { operationId?: string };
    const custom = (status.customStatus ?? {}) as Partial<WalkStatus>;
    return { operationId: input.operationId ?? custom.operationId ?? "unknown", kind: String(status.name), status: String(status.runtimeStatus) };
  } catch {
    return undefined;
  }
}

async function live(client: DurableClient, record: OperationRecord): Promise<OperationRecord> {
  if (record.status !== "running") return record;
  try {
    const status = await client.getStatus(record.instanceId, { showInput: false });
    const custom = (status.customStatus ?? undefined) as WalkStatus | undefined;
    if (custom?.operationId === record.id && Array.isArray(custom.steps)) return { ...record, steps: custom.steps, message: `${custom.counts.done}/${custom.steps.length} steps done, ${custom.counts.running} running.` };
    if (["Failed", "Terminated"].includes(String(status.runtimeStatus))) return { ...record, status: "failed", message: `The orchestration ${String(status.runtimeStatus).toLowerCase()}: ${String(status.output ?? "")}`.slice(0, 500) };
  } catch {
    // The instance is gone (purged): the stored record is all there is.
  }
  return record;
}

async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id;
  const record = slugOfOperation(id) ? await OperationStore.fromEnv().getOperation(id) : undefined;
  if (!record) return apiError(404, "OperationNotFound", `No operation '${id}'.`);
  return json(200, await live(df.getClient(context), record));
}

async function listOperations(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const slug = request.query.get("slug") ?? undefined;
  const records = await OperationStore.fromEnv().listOperations(slug);
  const client = df.getClient(context);
  return json(200, { operations: await Promise.all(records.map((record) => live(client, record))) });
}

app.http("getOperation", { route: "operations/{id}", methods: ["GET"], authLevel: "anonymous", extraInputs: [df.input.durableClient()], handler: getOperation });
app.http("listOperations", { route: "operations", methods: ["GET"], authLevel: "anonymous", extraInputs: [df.input.durableClient()], handler: listOperations });
