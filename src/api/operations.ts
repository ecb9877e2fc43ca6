/**
 * Operation routes: the stored record, merged while it runs with the orchestration's live custom
 * status, so an operator sees every step's state and duration as it happens; and cancel, which
 * stops an operation's steps (each finishes its current attempt) and records it `canceled`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug } from "../model/validate";
import { OperationStore, slugOfOperation, type OperationRecord } from "../operations/records";
import { instanceIdForSlug, type OperationInput } from "../../orchestrations/operation";
import { PLAN_STEP_EVENT, type CancelEvent } from "../../orchestrations/step-events";
import { apiError, json, origin } from "./responses";
import { actorName, type Principal } from "./auth";
import { apiRoute } from "./route";
import { runningOperation, withLiveStatus } from "./live-status";
import { reconcileSlug } from "./reconcile";
import { cancelTeardown } from "./teardown";

/**
 * The record as the slug's durable instance knows it, when the stored one is missing: its write
 * was lost (the local emulator keeps blob metadata in memory for up to 5 s) while the instance,
 * whose history is the source of truth, went on.
 */
export async function recordFromInstance(
  client: df.DurableClient,
  id: string,
  slug: string,
): Promise<OperationRecord | undefined> {
  let status: df.DurableOrchestrationStatus;
  try {
    status = await client.getStatus(instanceIdForSlug(slug), { showInput: true });
  } catch {
    return undefined;
  }
  const input = (status.input ?? {}) as Partial<OperationInput>;
  if (input.operationId !== id || !input.kind) return undefined;
  const created = new Date(status.createdTime ?? Date.now()).toISOString();
  return withLiveStatus(client, {
    id,
    slug,
    kind: input.kind,
    actor: input.actor ?? "unknown",
    status: "running",
    message: "",
    createdAt: created,
    updatedAt: created,
    request: input.request,
    steps: [],
    instanceId: instanceIdForSlug(slug),
  });
}

async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id;
  const slug = slugOfOperation(id);
  const store = OperationStore.fromEnv();
  const client = df.getClient(context);
  if (slug && !(await store.getOperation(id))) {
    const fromInstance = await recordFromInstance(client, id, slug);
    return fromInstance ? json(200, fromInstance) : apiError(404, "OperationNotFound", `No operation '${id}'.`);
  }
  if (!slug) return apiError(404, "OperationNotFound", `No operation '${id}'.`);
  // Settles the records first when the operation was stopped from outside.
  await reconcileSlug(store, client, slug);
  return json(200, await withLiveStatus(client, (await store.getOperation(id))!));
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

/**
 * Stop a running operation. An install's walker cancels: steps not started never start, running
 * ones stop before their next attempt, and the record says `canceled` with each step's last
 * state. A teardown is cancelled as `POST /api/slugs/{slug}/teardown/cancel` does (restored).
 */
async function cancelOperation(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
): Promise<HttpResponseInit> {
  const id = request.params.id;
  const slug = slugOfOperation(id);
  const record = slug ? await OperationStore.fromEnv().getOperation(id) : undefined;
  if (!slug || !record) return apiError(404, "OperationNotFound", `No operation '${id}'.`);
  const client = df.getClient(context);
  const running = await runningOperation(client, slug);
  if (!running || running.operationId !== id) {
    return apiError(
      409,
      "OperationNotRunning",
      `Operation '${id}' is not running (${record.status}): there is nothing to cancel.`,
      {
        status: record.status,
      },
    );
  }
  if (record.kind === "teardown") {
    return cancelTeardown(request, context, principal, slug);
  }
  const cancel: CancelEvent = { kind: "cancel", operationId: id, actor: actorName(principal) };
  await client.raiseEvent(instanceIdForSlug(slug), PLAN_STEP_EVENT, cancel);
  const statusUrl = `${origin(request)}/api/operations/${id}`;
  return json(202, { operationId: id, statusUrl, action: "cancel" }, { location: statusUrl });
}

apiRoute({
  name: "getOperation",
  route: "operations/{id}",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: getOperation,
});
apiRoute({
  name: "listOperations",
  route: "operations",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: listOperations,
});
apiRoute({
  name: "cancelOperation",
  route: "operations/{id}/cancel",
  methods: ["POST"],
  role: "Shire.Admin",
  durable: true,
  handler: cancelOperation,
});
