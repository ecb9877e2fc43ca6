/**
 * The sandbox's HTTPS front door: one server on loopback for every emulated service, dispatching
 * by host name, with authentication, faults, latency and the request log applied uniformly.
 * Errors render in the owning service's shape.
 */
import https from "node:https";
import type http from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import { SANDBOX_DNS_SUFFIX } from "../azure/endpoints";
import { ArmThrottle, SeededRandom } from "./faults";
import { noteLatency, RequestTimings } from "./timings";
import { loggableBody, parseForm, type RequestLog } from "./request-log";
import { ArmAuthenticationError, authenticateArm } from "./auth";
import { subscriptionOf, type SandboxEnvironment, type SandboxServiceModule } from "./service";
import {
  SandboxHttpError,
  type SandboxRequest,
  type SandboxResponse,
  type SandboxRoute,
  type SandboxService,
} from "./types";

interface CompiledRoute extends SandboxRoute {
  regex: RegExp;
  names: string[];
}

export interface SandboxServerOptions {
  tls: { certificatePem: string; privateKeyPem: string };
  env: SandboxEnvironment;
  modules: SandboxServiceModule[];
  log: RequestLog;
  /** Requests under /_sandbox/ (inspection API): no auth, no faults. */
  control: (request: SandboxRequest) => Promise<SandboxResponse | undefined>;
  /** Resource type of a request whose route serves many types (ARM), for per-type latency. */
  resourceTypeOf?: (request: SandboxRequest) => string | undefined;
  /**
   * Runs after a request was handled and before its answer leaves (persistence: what the request
   * changed is on disk before the client hears it was done). A throw answers 500.
   */
  beforeAnswer?: () => void;
  /** What the sandbox made each request wait (timings.ts); recorded only when enabled. */
  timings?: RequestTimings;
}

export class SandboxServer {
  private readonly routes: CompiledRoute[];
  private readonly throttle: ArmThrottle;
  private random: SeededRandom;
  private seed: number;
  private server?: https.Server;
  private readonly sockets = new Set<Socket>();
  private loseArmedAt = 0;
  private writesSinceArmed = 0;
  /** Requests wait until the stores are loaded (`open()`). */
  private readonly opened: Promise<void>;
  private markOpen!: () => void;
  private readonly timings: RequestTimings;

  constructor(private readonly options: SandboxServerOptions) {
    this.routes = options.modules.flatMap((module) => module.routes).map(compile);
    // Wall-clock time, not the sandbox clock: clients wait out Retry-After in real seconds.
    this.throttle = new ArmThrottle(() => Date.now());
    this.seed = options.env.faults.seed;
    this.random = new SeededRandom(this.seed);
    this.opened = new Promise((resolve) => (this.markOpen = resolve));
    this.timings = options.timings ?? new RequestTimings(false);
  }

  /**
   * Listen on loopback: on `port` (0: any free one). With `fallback`, a port already in use means
   * any free one instead (the port a previous run used is a preference, not a requirement).
   * Requests are held until `open()`.
   */
  async listen(port = 0, fallback = false): Promise<number> {
    this.server = https.createServer(
      { cert: this.options.tls.certificatePem, key: this.options.tls.privateKeyPem },
      (req, res) =>
        void this.timings.track(
          serviceFor((req.headers.host ?? "").toLowerCase().replace(/:\d+$/, "")),
          (req.method ?? "GET").toUpperCase(),
          req.url ?? "/",
          async () => {
            await this.handle(req, res);
            return res.headersSent ? res.statusCode : 0;
          },
        ),
    );
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    const server = this.server;
    const bind = (on: number) =>
      new Promise<void>((resolve, reject) => {
        const failed = (error: Error) => reject(error);
        server.once("error", failed);
        server.listen(on, "127.0.0.1", () => {
          server.off("error", failed);
          resolve();
        });
      });
    try {
      await bind(port);
    } catch (error) {
      if (!fallback || port === 0 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      await bind(0);
    }
    return (server.address() as AddressInfo).port;
  }

  /** Start answering (requests that arrived since `listen` go first). */
  open(): void {
    this.markOpen();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawBody = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => resolve(Buffer.concat(chunks)));
    });
    await this.opened;
    const hostHeader = (req.headers.host ?? "").toLowerCase();
    const host = hostHeader.replace(/:\d+$/, "");
    const service = serviceFor(host);
    // ARM clients build "/{scope}/..." with scope already starting with "/": collapse the doubled slash as ARM does.
    const url = new URL((req.url ?? "/").replace(/^\/{2,}/, "/"), `https://${hostHeader || "localhost"}`);
    const request: SandboxRequest = {
      service,
      method: (req.method ?? "GET").toUpperCase(),
      host,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: undefined,
      rawBody,
      params: {},
      requestId: randomUUID(),
      baseUrl: `https://${hostHeader}`,
    };

    let response: SandboxResponse;
    const contentType = String(req.headers["content-type"] ?? "");
    const parsed: { json?: unknown; form?: Record<string, string> } = {};
    const logBody = () => loggableBody(rawBody, contentType, parsed, service === "blob");
    try {
      if (url.pathname.startsWith("/_sandbox/")) {
        request.body = parseJson(rawBody, service);
        response = (await this.options.control(request)) ?? {
          status: 404,
          body: { error: { code: "NotFound", message: "No such sandbox control endpoint." } },
        };
        response = this.beforeAnswer(request, response);
        return this.send(res, request, response, false);
      }
      // Form bodies (the token endpoint's) are parsed as forms, never as JSON; blob and web
      // bodies are the service's own (XML, content).
      if (/application\/x-www-form-urlencoded/i.test(contentType)) parsed.form = parseForm(rawBody);
      else if (
        !/xml|octet-stream|text\/html|text\/plain|multipart/i.test(contentType) &&
        service !== "blob" &&
        service !== "web"
      ) {
        request.body = parseJson(rawBody, service);
        parsed.json = request.body;
      }
      // ARM authenticates before anything else; data planes authenticate in their handlers
      // (Key Vault's challenge, Storage's and Graph's own error shapes).
      if (service === "arm") request.caller = authenticateArm(request, this.options.env);
      const match = this.match(request);
      if (!match) throw notFound(request);
      request.params = match.params;
      const route = match.route;

      await this.applyLatency(route.resourceType ?? this.options.resourceTypeOf?.(request));
      const injected = this.injectTransient(request, route, res);
      if (injected !== undefined) {
        this.options.log.write({
          method: request.method,
          url: url.pathname + url.search,
          status: injected,
          body: logBody(),
        });
        return;
      }
      if (service === "arm" && route.armKind) {
        const taken = this.throttle.take(
          route.armKind,
          this.options.env.faults.throttleScale,
          subscriptionOf(url.pathname) ?? "tenant",
        );
        if (!taken.allowed) {
          throw new SandboxHttpError(
            429,
            "TooManyRequests",
            `The request is being throttled as the limit has been reached for operation type - ${route.armKind}. Please retry after ${taken.retryAfterSeconds} seconds.`,
            {
              "retry-after": String(taken.retryAfterSeconds),
            },
          );
        }
        res.setHeader(`x-ms-ratelimit-remaining-subscription-${route.armKind}s`, String(taken.remaining));
      }
      response = await route.handler(request);
    } catch (error) {
      response = renderError(error, request);
    }
    response = this.beforeAnswer(request, response);
    if (this.loseThisResponse(request, response)) {
      // The write happened; its answer never arrives.
      this.options.log.write({ method: request.method, url: url.pathname + url.search, status: 0, body: logBody() });
      (res.socket ?? res.req?.socket)?.destroy();
      return;
    }
    this.options.log.write({
      method: request.method,
      url: url.pathname + url.search,
      status: response.status,
      body: logBody(),
    });
    this.send(res, request, response, true);
  }

  /** The `beforeAnswer` hook (persistence); if it fails, the client gets a 500 instead of a promise the disk did not keep. */
  private beforeAnswer(request: SandboxRequest, response: SandboxResponse): SandboxResponse {
    try {
      this.options.beforeAnswer?.();
      return response;
    } catch (error) {
      return renderError(error, request);
    }
  }

  /**
   * Counts successful writes once `loseResponseOfWrite` is set (failed ones, such as Key Vault's
   * unauthenticated challenge request, change nothing); true for the one whose answer is lost.
   */
  private loseThisResponse(request: SandboxRequest, response: SandboxResponse): boolean {
    const faults = this.options.env.faults;
    if (faults.loseResponseOfWrite !== this.loseArmedAt) {
      this.loseArmedAt = faults.loseResponseOfWrite;
      this.writesSinceArmed = 0;
    }
    if (
      faults.loseResponseOfWrite <= 0 ||
      request.method === "GET" ||
      request.method === "HEAD" ||
      request.service === "login" ||
      response.status >= 400
    )
      return false;
    this.writesSinceArmed++;
    if (this.writesSinceArmed !== faults.loseResponseOfWrite) return false;
    faults.loseResponseOfWrite = 0;
    this.loseArmedAt = 0;
    return true;
  }

  private send(res: http.ServerResponse, request: SandboxRequest, response: SandboxResponse, withIds: boolean): void {
    const headers: Record<string, string> = { ...(response.headers ?? {}) };
    if (withIds) {
      headers["x-ms-request-id"] = request.requestId;
      if (request.service === "arm") headers["x-ms-correlation-request-id"] = request.requestId;
      if (request.service === "graph") headers["request-id"] = request.requestId;
    }
    let payload: Buffer | undefined;
    if (Buffer.isBuffer(response.body)) payload = response.body;
    else if (typeof response.body === "string") payload = Buffer.from(response.body);
    else if (response.body !== undefined) {
      payload = Buffer.from(JSON.stringify(response.body));
      headers["content-type"] ??= "application/json; charset=utf-8";
    }
    res.writeHead(response.status, headers);
    res.end(request.method === "HEAD" ? undefined : payload);
  }

  private match(request: SandboxRequest): { route: CompiledRoute; params: Record<string, string> } | undefined {
    for (const route of this.routes) {
      if (route.service !== request.service || route.method !== request.method) continue;
      const found = route.regex.exec(request.path);
      if (!found) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1] ?? "")));
      return { route, params };
    }
    return undefined;
  }

  private async applyLatency(resourceType: string | undefined): Promise<void> {
    const faults = this.options.env.faults;
    const perType = resourceType ? faults.latencyMs[resourceType] : undefined;
    const ms = (perType ?? faults.defaultLatencyMs) * faults.latencyScale;
    noteLatency(ms);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The status a transient fault answered with (0: the connection was cut), or undefined when none struck. */
  private injectTransient(request: SandboxRequest, route: CompiledRoute, res: http.ServerResponse): number | undefined {
    const faults = this.options.env.faults;
    if (faults.seed !== this.seed) {
      this.seed = faults.seed;
      this.random = new SeededRandom(this.seed);
    }
    const named = faults.failRequests.find(
      (rule) =>
        rule.times > 0 &&
        (!rule.method || rule.method.toUpperCase() === request.method) &&
        request.path.includes(rule.path),
    );
    if (named) {
      named.times--;
      this.send(
        res,
        request,
        renderError(new SandboxHttpError(500, "InternalServerError", "An internal error occurred."), request),
        true,
      );
      return 500;
    }
    if (faults.transientRate <= 0) return undefined;
    if (faults.transientServices && !faults.transientServices.includes(request.service)) return undefined;
    if (faults.transientWritesOnly && (request.method === "GET" || request.method === "HEAD")) return undefined;
    if (route.armKind === undefined && request.service === "arm") return undefined;
    if (this.random.next() >= faults.transientRate) return undefined;
    const kind = faults.transientKinds[Math.floor(this.random.next() * faults.transientKinds.length)] ?? "500";
    if (kind === "reset") {
      // Cut the connection without an answer, as a dropped TCP connection would.
      (res.socket ?? res.req?.socket)?.destroy();
      return 0;
    }
    const status = kind === "503" ? 503 : 500;
    this.send(
      res,
      request,
      renderError(
        new SandboxHttpError(
          status,
          status === 503 ? "ServiceUnavailable" : "InternalServerError",
          status === 503 ? "The service is temporarily unavailable." : "An internal error occurred.",
          status === 503 ? { "retry-after": "1" } : {},
        ),
        request,
      ),
      true,
    );
    return status;
  }
}

function compile(route: SandboxRoute): CompiledRoute {
  const names: string[] = [];
  const pattern = route.pattern
    .split("/")
    .map((segment) => {
      if (segment.startsWith("*")) {
        names.push(segment.slice(1));
        return "(.*)";
      }
      if (segment.startsWith(":")) {
        names.push(segment.slice(1));
        return "([^/]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { ...route, names, regex: new RegExp(`^${pattern}/?$`, "i") };
}

export function serviceFor(host: string): SandboxService {
  const suffix = `.${SANDBOX_DNS_SUFFIX}`;
  if (host === `graph${suffix}`) return "graph";
  if (host === `login${suffix}`) return "login";
  if (host.endsWith(`.vault${suffix}`)) return "keyvault";
  if (host.endsWith(`.blob${suffix}`)) return "blob";
  if (host.endsWith(`.web${suffix}`)) return "web";
  return "arm";
}

function parseJson(raw: Buffer, service: SandboxService): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (error) {
    const code = service === "keyvault" ? "BadParameter" : service === "graph" ? "BadRequest" : "InvalidRequestContent";
    throw new SandboxHttpError(
      400,
      code,
      `The request content was invalid and could not be deserialized: ${(error as Error).message}`,
    );
  }
}

function notFound(request: SandboxRequest): SandboxHttpError {
  if (request.service === "graph")
    return new SandboxHttpError(
      400,
      "BadRequest",
      `Resource not found for the segment '${request.path.split("/").filter(Boolean).at(-1) ?? ""}'.`,
    );
  if (request.service === "keyvault")
    return new SandboxHttpError(404, "NotFound", `No route for ${request.method} ${request.path}.`);
  return new SandboxHttpError(
    404,
    "NoRegisteredProviderFound",
    `No registered resource provider found for ${request.method} ${request.path}.`,
  );
}

export function renderError(error: unknown, request: SandboxRequest): SandboxResponse {
  if (error instanceof ArmAuthenticationError) {
    return {
      status: 401,
      headers: { "www-authenticate": error.challenge, "x-ms-failure-cause": "gateway" },
      body: { error: { code: error.code, message: error.message } },
    };
  }
  const known =
    error instanceof SandboxHttpError
      ? error
      : new SandboxHttpError(
          500,
          "InternalServerError",
          `Sandbox error: ${(error as Error)?.message ?? String(error)}`,
        );
  if (!(error instanceof SandboxHttpError)) console.error("[sandbox]", (error as Error)?.stack ?? error);
  if (request.service === "graph") {
    return {
      status: known.status,
      headers: known.headers,
      body: {
        error: {
          code: known.code,
          message: known.message,
          innerError: { "request-id": request.requestId, date: new Date().toISOString() },
        },
      },
    };
  }
  if (request.service === "web") {
    return {
      status: known.status,
      headers: { ...known.headers, "content-type": "text/html", "x-ms-error-code": known.code },
      body: `<!DOCTYPE html><html><head><title>${known.code}</title></head><body><h1>${escapeXml(known.message)}</h1><p>x-ms-request-id: ${request.requestId}</p></body></html>`,
    };
  }
  if (request.service === "blob") {
    const detail = (known.details as { authenticationErrorDetail?: string } | undefined)?.authenticationErrorDetail;
    return {
      status: known.status,
      headers: { ...known.headers, "content-type": "application/xml", "x-ms-error-code": known.code },
      body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${known.code}</Code><Message>${escapeXml(known.message)}\nRequestId:${request.requestId}\nTime:${new Date().toISOString()}</Message>${detail ? `<AuthenticationErrorDetail>${escapeXml(detail)}</AuthenticationErrorDetail>` : ""}</Error>`,
    };
  }
  const body: { error: { code: string; message: string; details?: unknown; innererror?: unknown } } = {
    error: { code: known.code, message: known.message },
  };
  // Key Vault errors carry only `innererror` (its REST spec's KeyVaultError), ARM's `details`.
  if (request.service === "keyvault") {
    if (known.details !== undefined) body.error.innererror = known.details;
  } else if (known.details !== undefined) body.error.details = known.details;
  // ARM marks its own refusals `gateway`; a resource provider's error says so itself (`service`).
  return {
    status: known.status,
    headers: { ...(request.service === "arm" ? { "x-ms-failure-cause": "gateway" } : {}), ...known.headers },
    body,
  };
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
