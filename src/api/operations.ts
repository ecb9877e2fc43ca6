/**
 * Operation routes: the stored record, merged while it runs with the orchestration's live custom
 * status, so an operator sees every step's state and duration as it happens; and cancel, which
 * stops an operation's steps (each finishes its current attempt) and records it `canceled`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug, type Problem } from "../model/validate";
import { OperationStore, slugOfOperation, type JournalQuery, type OperationRecord } from "../operations/records";
import { OPERATION_RULES } from "../operations/lifecycle";
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

const OPERATION_KINDS = Object.keys(OPERATION_RULES);
const OPERATION_STATUSES = ["notStarted", "running", "succeeded", "failed", "canceled"];
const MAX_PAGE = 200;

/** `?slug=&kind=&status=&since=&limit=&continuationToken=`: every problem at once. */
export function journalQueryOf(
  query: URLSearchParams,
): { ok: true; query: JournalQuery } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  const known = ["slug", "kind", "status", "since", "limit", "continuationToken"];
  for (const key of query.keys())
    if (!known.includes(key)) problems.push({ path: key, message: "is not a known query parameter." });
  const slug = query.get("slug") ?? undefined;
  if (slug !== undefined) problems.push(...validateSlug(slug));
  const kind = query.get("kind") ?? undefined;
  if (kind !== undefined && !OPERATION_KINDS.includes(kind))
    problems.push({ path: "kind", message: `must be one of ${OPERATION_KINDS.join(", ")}.` });
  const status = query.get("status") ?? undefined;
  if (status !== undefined && !OPERATION_STATUSES.includes(status))
    problems.push({ path: "status", message: `must be one of ${OPERATION_STATUSES.join(", ")}.` });
  const since = query.get("since") ?? undefined;
  if (since !== undefined && Number.isNaN(Date.parse(since)))
    problems.push({ path: "since", message: "must be a date-time (ISO 8601)." });
  const limitText = query.get("limit") ?? undefined;
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    problems.push({ path: "limit", message: `must be a whole number from 1 to ${MAX_PAGE}.` });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    query: {
      ...(slug ? { slug } : {}),
      ...(kind ? { kind } : {}),
      ...(status ? { status } : {}),
      ...(since ? { since: new Date(since).toISOString() } : {}),
      limit,
      ...(query.get("continuationToken") ? { continuationToken: query.get("continuationToken")! } : {}),
    },
  };
}

/** The journal: newest first, filtered, one page at a time (`continuationToken` for the next). */
async function listOperations(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const parsed = journalQueryOf(request.query);
  if (!parsed.ok) return apiError(400, "InvalidRequest", "The journal query is not valid.", parsed.problems);
  const store = OperationStore.fromEnv();
  const page = await store.queryOperations(parsed.query);
  if (
    parsed.query.slug &&
    page.operations.length === 0 &&
    !page.continuationToken &&
    !(await store.getSlug(parsed.query.slug))
  )
    return apiError(404, "SlugNotFound", `Shire knows no slug '${parsed.query.slug}'.`);
  const client = df.getClient(context);
  return json(200, {
    operations: await Promise.all(page.operations.map((record) => withLiveStatus(client, record))),
    ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
  });
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
