/**
 * The durable client's HTTP management API (durable-facts §5), as the extension serves it under
 * /runtime/webhooks/durabletask/: start, status (one and query), raise event, terminate, purge.
 */
import type http from "node:http";
import type { DurableEngine } from "./engine";
import { InstanceConflictError } from "./engine";
import { TERMINAL_STATUSES, type HistoryEvent, type InstanceState, type RuntimeStatus } from "./types";

export async function handleManagementRequest(engine: DurableEngine, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const path = url.pathname.slice(engine.webhookPrefix.length).replace(/^\/+/, "");
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const method = (req.method ?? "GET").toUpperCase();
  const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(payload === undefined ? "" : JSON.stringify(payload));
  };

  try {
    if (segments[0] === "orchestrators" && method === "POST" && segments.length >= 2) {
      const input = body.length > 0 ? JSON.parse(body.toString("utf8")) : undefined;
      const state = engine.startInstance(segments[1], segments[2], input);
      return send(202, managementPayload(engine, req, state.instanceId), { location: statusUrl(engine, req, state.instanceId) });
    }
    if (segments[0] !== "instances") return send(404, { message: `No route for ${method} ${url.pathname}` });

    if (segments.length === 1 && method === "GET") return send(200, query(engine, url.searchParams));

    const instanceId = segments[1];
    const state = engine.getInstance(instanceId);
    const action = segments[2];
    if (!action) {
      if (method === "GET") {
        if (!state) return send(404, { message: `No instance with ID '${instanceId}' was found.` });
        const status = toStatus(state, url.searchParams);
        return send(TERMINAL_STATUSES.has(state.runtimeStatus) ? 200 : 202, status);
      }
      if (method === "DELETE") {
        if (!state) return send(404, { message: `No instance with ID '${instanceId}' was found.` });
        engine.purge(instanceId);
        return send(200, { instancesDeleted: 1 });
      }
    }
    if (!state) return send(404, { message: `No instance with ID '${instanceId}' was found.` });
    if (action === "raiseEvent" && method === "POST" && segments[3]) {
      const data = body.length > 0 ? JSON.parse(body.toString("utf8")) : undefined;
      return engine.raiseEvent(instanceId, segments[3], data) ? send(202) : send(410, { message: `Instance ${instanceId} is ${state.runtimeStatus}.` });
    }
    if (action === "terminate" && method === "POST") {
      return engine.terminate(instanceId, url.searchParams.get("reason") ?? "") ? send(202) : send(410, { message: `Instance ${instanceId} is ${state.runtimeStatus}.` });
    }
    if (action === "rewind" || action === "suspend" || action === "resume") {
      return send(501, { message: `${action} is not supported by the local host.` });
    }
    return send(404, { message: `No route for ${method} ${url.pathname}` });
  } catch (error) {
    if (error instanceof InstanceConflictError) return send(409, { message: error.message });
    if (error instanceof SyntaxError) return send(400, { message: `Request body is not valid JSON: ${error.message}` });
    return send(400, { message: (error as Error).message });
  }
}

function origin(req: http.IncomingMessage): string {
  return `http://${req.headers.host ?? "localhost"}`;
}

function statusUrl(engine: DurableEngine, req: http.IncomingMessage, instanceId: string): string {
  return `${origin(req)}${engine.webhookPrefix}/instances/${encodeURIComponent(instanceId)}`;
}

function managementPayload(engine: DurableEngine, req: http.IncomingMessage, instanceId: string) {
  const base = statusUrl(engine, req, instanceId);
  return {
    id: instanceId,
    statusQueryGetUri: base,
    sendEventPostUri: `${base}/raiseEvent/{eventName}`,
    terminatePostUri: `${base}/terminate?reason={text}`,
    purgeHistoryDeleteUri: base,
  };
}

function query(engine: DurableEngine, params: URLSearchParams) {
  const statuses = (params.get("runtimeStatus") ?? "").split(",").filter(Boolean) as RuntimeStatus[];
  const from = params.get("createdTimeFrom");
  const to = params.get("createdTimeTo");
  const prefix = params.get("instanceIdPrefix");
  return engine
    .listInstances()
    .filter((state) => statuses.length === 0 || statuses.includes(state.runtimeStatus))
    .filter((state) => !from || state.createdTime >= new Date(from).toISOString())
    .filter((state) => !to || state.createdTime <= new Date(to).toISOString())
    .filter((state) => !prefix || state.instanceId.startsWith(prefix))
    .map((state) => toStatus(state, params));
}

function toStatus(state: InstanceState, params: URLSearchParams) {
  const showInput = params.get("showInput") !== "false";
  const status: Record<string, unknown> = {
    name: state.name,
    instanceId: state.instanceId,
    createdTime: state.createdTime,
    lastUpdatedTime: state.lastUpdatedTime,
    input: showInput ? (state.input ?? null) : null,
    output: state.output ?? null,
    runtimeStatus: state.runtimeStatus,
    customStatus: state.customStatus ?? null,
  };
  if (params.get("showHistory") === "true") status.history = state.history.map((event) => summarize(event, params.get("showHistoryOutput") === "true"));
  return status;
}

/** History as the extension shows it: event type names, results only when asked. */
function summarize(event: HistoryEvent, withOutput: boolean) {
  const { Result, Input, ...rest } = event;
  return withOutput ? { ...rest, Result, Input } : rest;
}
