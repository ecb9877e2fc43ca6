/**
 * The durable client's HTTP management API (durable-facts §5), answering as the extension's
 * HttpApiHandler does under /runtime/webhooks/durabletask/: routes `orchestrators/{functionName}/{instanceId?}`,
 * `instances/{instanceId?}/{operation?}` and `instances/{instanceId}/raiseEvent/{eventName}`;
 * anything else, or another method, is 404. ArgumentExceptions are 400, any other failure 500
 * (an id conflict on start included: DTFx's OrchestrationAlreadyExistsException).
 */
import type http from "node:http";
import type { DurableEngine } from "./engine";
import { InstanceConflictError, UnknownFunctionError } from "./engine";
import { toStatusPayload } from "./status";
import { TERMINAL_STATUSES, type InstanceState, type RuntimeStatus } from "./types";

const RUNTIME_STATUSES: readonly RuntimeStatus[] = [
  "Running",
  "Completed",
  "ContinuedAsNew",
  "Failed",
  "Terminated",
  "Pending",
  "Suspended",
];
/** DurableClient.MaxInstanceIdLength. */
const MAX_INSTANCE_ID_LENGTH = 256;

/** The extension's ArgumentException: answered 400. */
class BadRequest extends Error {
  constructor(
    message: string,
    readonly exceptionMessage?: string,
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export async function handleManagementRequest(
  engine: DurableEngine,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  let reply: Reply;
  try {
    reply = route(engine, req, url, body);
  } catch (error) {
    if (error instanceof BadRequest)
      reply = errorReply(400, error.message, error.exceptionMessage ?? error.message, "System.ArgumentException");
    else if (error instanceof UnknownFunctionError)
      reply = errorReply(
        400,
        "One or more of the arguments submitted is incorrect",
        error.message,
        "System.ArgumentException",
      );
    else if (error instanceof InstanceConflictError)
      reply = errorReply(
        500,
        "Something went wrong while processing your request",
        error.message,
        "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
      );
    else
      reply = errorReply(
        500,
        "Something went wrong while processing your request",
        (error as Error).message,
        (error as Error).name,
      );
  }
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  if (reply.body !== undefined) headers["content-type"] = "application/json; charset=utf-8";
  res.writeHead(reply.status, headers);
  res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
}

/** ASP.NET's HttpError shape, as request.CreateErrorResponse(status, message, exception) writes it. */
function errorReply(status: number, message: string, exceptionMessage: string, exceptionType: string): Reply {
  return { status, body: { Message: message, ExceptionMessage: exceptionMessage, ExceptionType: exceptionType } };
}

function route(engine: DurableEngine, req: http.IncomingMessage, url: URL, body: Buffer): Reply {
  const path = url.pathname.slice(engine.webhookPrefix.length);
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const method = (req.method ?? "GET").toUpperCase();
  const query = url.searchParams;

  if (segments[0]?.toLowerCase() === "orchestrators" && segments.length >= 2 && segments.length <= 3) {
    if (method !== "POST") return { status: 404 };
    return start(engine, req, segments[1], segments[2], body);
  }
  if (segments[0]?.toLowerCase() !== "instances") return { status: 404 };

  if (segments.length === 4 && segments[2].toLowerCase() === "raiseevent") {
    if (method !== "POST") return { status: 404 };
    return raiseEvent(engine, req, segments[1], segments[3], body);
  }
  if (segments.length > 3) return { status: 404 };
  const [, instanceId, operation] = segments;

  if (instanceId === undefined) {
    if (method === "GET") return list(engine, req, query);
    if (method === "DELETE") return purgeBy(engine, query);
    return { status: 404 };
  }
  if (operation === undefined) {
    if (method === "GET") return status(engine, req, url, instanceId);
    if (method === "DELETE") return purge(engine, instanceId);
    return { status: 404 };
  }
  if (method !== "POST") return { status: 404 };
  switch (operation.toLowerCase()) {
    case "terminate":
      return lifecycle(engine, instanceId, (state) => {
        engine.terminate(state.instanceId, query.get("reason") ?? "");
        return { status: 202 };
      });
    case "restart":
      return restart(engine, req, instanceId, query);
    case "suspend":
    case "resume":
      return lifecycle(engine, instanceId, () => ({
        status: 501,
        body: { message: `${operation} is not supported by the local host.` },
      }));
    case "rewind": {
      const state = engine.getInstance(instanceId);
      if (!state) return { status: 404 };
      if (state.runtimeStatus === "Completed" || state.runtimeStatus === "Terminated") return { status: 410 };
      return { status: 501, body: { message: "rewind is not supported by the local host." } };
    }
    default:
      return { status: 404 };
  }
}

/** DurableClient.StartNewAsync's checks on a caller-chosen instance id. */
export function validateInstanceId(instanceId: string): void {
  if (instanceId.startsWith("@"))
    throw new BadRequest(
      "One or more of the arguments submitted is incorrect",
      "Orchestration instance ids must not start with @.",
    );
  // eslint-disable-next-line no-control-regex
  if (/[/\\?#\u0000-\u001f\u007f-\u009f]/.test(instanceId))
    throw new BadRequest(
      "One or more of the arguments submitted is incorrect",
      "Orchestration instance ids must not contain /, \\, #, ?, or control characters.",
    );
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH)
    throw new BadRequest(
      "One or more of the arguments submitted is incorrect",
      `Instance ID lengths must not exceed ${MAX_INSTANCE_ID_LENGTH} characters.`,
    );
}

function start(
  engine: DurableEngine,
  req: http.IncomingMessage,
  functionName: string,
  instanceId: string | undefined,
  body: Buffer,
): Reply {
  let input: unknown;
  if (body.length > 0) {
    try {
      input = JSON.parse(body.toString("utf8"));
    } catch (error) {
      return errorReply(400, "Invalid JSON content", (error as Error).message, "Newtonsoft.Json.JsonReaderException");
    }
  }
  engine.requireOrchestrator(functionName); // ThrowIfFunctionDoesNotExist comes before the id checks
  if (instanceId) validateInstanceId(instanceId);
  const state = engine.startInstance(functionName, instanceId || undefined, input);
  return checkStatusResponse(engine, req, state.instanceId);
}

/** HttpApiHandler.CreateCheckStatusResponse: 202, the management links, Location and Retry-After: 10. */
function checkStatusResponse(engine: DurableEngine, req: http.IncomingMessage, instanceId: string): Reply {
  const base = `${origin(req)}${engine.webhookPrefix}/instances/${encodeURIComponent(instanceId)}`;
  const suffix = `taskHub=${encodeURIComponent(engine.hubName)}&connection=Storage&code=local`;
  const links = {
    id: instanceId,
    statusQueryGetUri: `${base}?${suffix}`,
    sendEventPostUri: `${base}/raiseEvent/{eventName}?${suffix}`,
    terminatePostUri: `${base}/terminate?reason={text}&${suffix}`,
    purgeHistoryDeleteUri: `${base}?${suffix}`,
    restartPostUri: `${base}/restart?${suffix}`,
    suspendPostUri: `${base}/suspend?reason={text}&${suffix}`,
    resumePostUri: `${base}/resume?reason={text}&${suffix}`,
  };
  return { status: 202, body: links, headers: { location: links.statusQueryGetUri, "retry-after": "10" } };
}

function origin(req: http.IncomingMessage): string {
  return `http://${req.headers.host ?? "localhost"}`;
}

/** .NET bool.TryParse: "true"/"false" in any case; anything else is "not given". */
function queryBool(query: URLSearchParams, name: string): boolean | undefined {
  const value = query.get(name)?.trim().toLowerCase();
  return value === "true" ? true : value === "false" ? false : undefined;
}

function queryDate(query: URLSearchParams, name: string): Date | undefined {
  const value = query.get(name);
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** runtimeStatus=a,b (repeatable); names that are not statuses are ignored, as Enum.TryParse does. */
function queryStatuses(query: URLSearchParams): RuntimeStatus[] {
  return query
    .getAll("runtimeStatus")
    .flatMap((value) => value.split(","))
    .map((value) => RUNTIME_STATUSES.find((status) => status.toLowerCase() === value.trim().toLowerCase()))
    .filter((value): value is RuntimeStatus => value !== undefined);
}

function status(engine: DurableEngine, req: http.IncomingMessage, url: URL, instanceId: string): Reply {
  const state = engine.getInstance(instanceId);
  if (!state) return { status: 404 };
  const query = url.searchParams;
  const payload = toStatusPayload(state, {
    showHistory: queryBool(query, "showHistory") ?? false,
    showHistoryOutput: queryBool(query, "showHistoryOutput") ?? false,
    showInput: queryBool(query, "showInput") ?? true,
  });
  switch (state.runtimeStatus) {
    case "Running":
    case "Pending":
    case "ContinuedAsNew":
    case "Suspended":
      // Running: 202 pointing back at this URL, and "ask for 5 seconds before retry".
      return {
        status: 202,
        body: payload,
        headers: { location: `${origin(req)}${url.pathname}${url.search}`, "retry-after": "5" },
      };
    case "Failed":
      return { status: queryBool(query, "returnInternalServerErrorOnFailure") ? 500 : 200, body: payload };
    default:
      return { status: 200, body: payload };
  }
}

/** GET instances/: the query, paged by `top` with x-ms-continuation-token. */
function list(engine: DurableEngine, req: http.IncomingMessage, query: URLSearchParams): Reply {
  const statuses = queryStatuses(query);
  const from = queryDate(query, "createdTimeFrom");
  const to = queryDate(query, "createdTimeTo");
  const prefix = query.get("instanceIdPrefix");
  const showInput = queryBool(query, "showInput") ?? true;
  const matching = engine
    .listInstances()
    .filter((state) => statuses.length === 0 || statuses.includes(state.runtimeStatus))
    .filter((state) => !from || Date.parse(state.createdTime) >= from.getTime())
    .filter((state) => !to || Date.parse(state.createdTime) <= to.getTime())
    .filter((state) => prefix === null || state.instanceId.startsWith(prefix))
    .sort((a, b) => a.createdTime.localeCompare(b.createdTime) || a.instanceId.localeCompare(b.instanceId));
  const top = Number.parseInt(query.get("top") ?? "", 10);
  const token = req.headers["x-ms-continuation-token"];
  const offset = typeof token === "string" && /^\d+$/.test(token) ? Number(token) : 0;
  const page = Number.isInteger(top) && top > 0 ? matching.slice(offset, offset + top) : matching.slice(offset);
  const next = offset + page.length < matching.length ? String(offset + page.length) : "";
  const body = page.map((state) => toStatusPayload(state, { showHistory: false, showHistoryOutput: false, showInput }));
  return { status: 200, body, headers: next ? { "x-ms-continuation-token": next } : {} };
}

/** DELETE instances/{id}: 404 when unknown, else 200 with the count. */
function purge(engine: DurableEngine, instanceId: string): Reply {
  if (!engine.getInstance(instanceId)) return { status: 404 };
  return { status: 200, body: { instancesDeleted: engine.purge(instanceId) ? 1 : 0 } };
}

/** DELETE instances/?createdTimeFrom=..: createdTimeFrom is required, createdTimeTo defaults to now; nothing purged is 404. */
function purgeBy(engine: DurableEngine, query: URLSearchParams): Reply {
  const from = queryDate(query, "createdTimeFrom");
  if (!from) return { status: 400, body: "Please provide value for 'createdTimeFrom' parameter." };
  const to = queryDate(query, "createdTimeTo") ?? new Date();
  const deleted = engine.purgeBy(from, to, queryStatuses(query));
  return deleted === 0 ? { status: 404 } : { status: 200, body: { instancesDeleted: deleted } };
}

/** Terminate / suspend / resume: 404 unknown, 410 once finished (Failed included). */
function lifecycle(engine: DurableEngine, instanceId: string, act: (state: InstanceState) => Reply): Reply {
  const state = engine.getInstance(instanceId);
  if (!state) return { status: 404 };
  if (TERMINAL_STATUSES.has(state.runtimeStatus)) return { status: 410 };
  return act(state);
}

function raiseEvent(
  engine: DurableEngine,
  req: http.IncomingMessage,
  instanceId: string,
  eventName: string,
  body: Buffer,
): Reply {
  const state = engine.getInstance(instanceId);
  if (!state) return { status: 404 };
  if (TERMINAL_STATUSES.has(state.runtimeStatus)) return { status: 410 };
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json")
    return errorReply(
      400,
      "Only application/json request content is supported",
      "Only application/json request content is supported",
      "System.ArgumentException",
    );
  let data: unknown;
  const text = body.toString("utf8");
  if (text.trim().length > 0) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      return errorReply(400, "Invalid JSON content", (error as Error).message, "Newtonsoft.Json.JsonReaderException");
    }
  }
  engine.raiseEvent(instanceId, eventName, data);
  return { status: 202 };
}

/** POST instances/{id}/restart[?restartWithNewInstanceId=false]: the same orchestrator and input, a new (or the same) id. */
function restart(engine: DurableEngine, req: http.IncomingMessage, instanceId: string, query: URLSearchParams): Reply {
  const state = engine.getInstance(instanceId);
  if (!state)
    return errorReply(
      400,
      "InstanceId does not match a valid orchestration instance.",
      `An orchestrastion with the instanceId ${instanceId} was not found.`,
      "System.ArgumentException",
    );
  const newId = queryBool(query, "restartWithNewInstanceId") ?? true;
  const started = engine.startInstance(state.name, newId ? undefined : state.instanceId, state.input);
  return checkStatusResponse(engine, req, started.instanceId);
}
