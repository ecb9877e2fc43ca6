/**
 * The local Functions host: loads a v4 Node app the way the worker does and serves it on one
 * machine, playing the roles Azure Functions plays in the cloud: HTTP triggers on
 * 127.0.0.1:<port>/<routePrefix>/..., queue triggers from Azure Storage (Azurite when nothing is
 * configured), timer triggers, output bindings, app hooks, and the Durable Task extension
 * (durable/engine.ts).
 */
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { loadApp, type LoadedApp } from "./worker/load-app";
import { findTriggerBinding, FunctionInvocationError, invokeFunction } from "./worker/invoke";
import type { RpcBindingInfo, RpcTypedData } from "./worker/core-api";
import { OutputBindings, unsupportedBindings } from "./worker/bindings";
import { DurableEngine, type DurableClock, type DurableFaults } from "./durable/engine";
import { compileRoute, RouteTable, type CompiledRoute } from "./routes";
import { QueueListener, timeSpanToMs } from "./queues";
import { TimerScheduler } from "./timers";
import { invokeWithRetries, type FunctionRetryOptions } from "./retry";
import { hostErrorBody, writeHostError, writeHttpResponse } from "./http-response";
import { requestUrl } from "./request-url";
import { storageConnectionResolver } from "./connections";
import { azuriteLocation, startAzurite, type AzuriteHandle } from "./azurite";
import { HostStartError, listenError } from "./start-error";

export interface FunctionsHostOptions {
  appRoot: string;
  /** 0 = ephemeral. Default 7071, as Core Tools. */
  port?: number;
  host?: string;
  stateDir?: string;
  /** AzureWebJobsStorage; when absent (or UseDevelopmentStorage=true) the host starts Azurite. */
  storageConnectionString?: string;
  durableFaults?: DurableFaults;
  clock?: DurableClock;
  log?: (level: string, message: string) => void;
  /** Queue message lease in seconds (the listener's 10 minutes by default; tests shorten it). */
  queueLeaseSeconds?: number;
}

interface HttpFunction {
  name: string;
  route: CompiledRoute;
  methods: string[];
}

export class FunctionsHost {
  engine!: DurableEngine;
  app!: LoadedApp;
  private server?: http.Server;
  private azurite?: AzuriteHandle;
  private readonly httpFunctions = new RouteTable<HttpFunction>();
  private readonly queueListeners = new Map<string, QueueListener>();
  private readonly timers = new Map<string, TimerScheduler>();
  private address?: AddressInfo;
  private readonly log: (level: string, message: string) => void;
  private outputs!: OutputBindings;
  private routePrefix = "api";
  /** Requests wait on this until the engine and every route are in place. */
  private ready!: Promise<void>;
  private stopping = false;

  constructor(private readonly options: FunctionsHostOptions) {
    this.log =
      options.log ??
      ((level, message) =>
        (level === "error" || level === "warning" ? console.error : console.log)(`[${level}] ${message}`));
  }

  get url(): string {
    if (!this.address) throw new Error("Host not started.");
    return `http://127.0.0.1:${this.address.port}`;
  }

  get stateDir(): string {
    return this.options.stateDir ?? path.join(this.options.appRoot, ".shire");
  }

  get storageConnectionString(): string | undefined {
    return this.effectiveStorage;
  }

  private effectiveStorage?: string;

  async start(): Promise<void> {
    let markReady!: () => void;
    let markFailed!: (error: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    this.ready.catch(() => undefined);
    try {
      await this.startInner(markReady);
    } catch (error) {
      markFailed(error);
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  private async startInner(markReady: () => void): Promise<void> {
    this.app = loadApp(this.options.appRoot);
    const recorder = this.app.recorder;
    recorder.logSink = (level, category, message) =>
      this.log(level, `${category === "user" ? "" : `(${category}) `}${message}`);
    const problems = unsupportedBindings(recorder.functions);
    if (problems.length > 0)
      throw new HostStartError(
        `The app declares bindings the local host does not implement (they would be dropped silently):\n  ${problems.join("\n  ")}`,
      );
    const hostJson = this.app.hostJson;
    // host.json's routePrefix: "" serves routes at the root.
    this.routePrefix = (hostJson.extensions?.http?.routePrefix ?? "api").replace(/^\/+|\/+$/g, "");

    // Storage first: the app's settings (AzureWebJobsStorage) must be set before any function runs.
    const configured = this.options.storageConnectionString ?? process.env.AzureWebJobsStorage;
    if (!configured || /UseDevelopmentStorage=true/i.test(configured)) {
      this.azurite = await startAzurite(azuriteLocation(this.stateDir), { log: this.log });
      this.effectiveStorage = this.azurite.connectionString;
    } else {
      this.effectiveStorage = configured;
    }
    process.env.AzureWebJobsStorage = this.effectiveStorage;
    const resolveConnection = storageConnectionResolver(process.env, () => this.azurite?.connectionString);
    const queues = hostJson.extensions?.queues ?? {};
    this.outputs = new OutputBindings(resolveConnection, queues.messageEncoding ?? "base64", resolveSetting);

    // Listen now (the durable client's URLs need the port) but answer only once ready.
    // Nothing a client sends may stop the host: every failure of a request ends in an answer.
    this.server = http.createServer({ requireHostHeader: false }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => this.requestFailed(req, res, error));
    });
    this.server.on("clientError", answerClientError);
    const [host, port] = [this.options.host ?? "127.0.0.1", this.options.port ?? 7071];
    await new Promise<void>((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, host, port));
      this.server!.once("error", failed);
      this.server!.listen(port, host, () => {
        this.server!.off("error", failed);
        resolve();
      });
    });
    this.server.on("error", (error) => this.log("error", `HTTP server: ${error.message}`));
    this.address = this.server.address() as AddressInfo;

    const durable = hostJson.extensions?.durableTask ?? {};
    this.engine = new DurableEngine({
      recorder,
      stateDir: this.stateDir,
      hubName: durable.hubName ?? "TestHubName",
      baseUrl: this.url,
      maxConcurrentActivities: durable.maxConcurrentActivityFunctions,
      maxConcurrentOrchestrations: durable.maxConcurrentOrchestratorFunctions,
      clock: this.options.clock,
      faults: this.options.durableFaults,
      log: this.log,
      outputs: this.outputs,
    });

    // The worker runs appStart hooks once the app is loaded, before any invocation.
    await recorder.runHooks("appStart", {
      hookData: recorder.appHookData,
      appHookData: recorder.appHookData,
      functionAppDirectory: this.app.appRoot,
    });
    await this.engine.start();

    for (const [name, registration] of recorder.functions) {
      const [, trigger] = findTriggerBinding(registration.metadata.bindings);
      switch (trigger.type) {
        case "httpTrigger":
          this.httpFunctions.add({
            name,
            route: compileRoute([this.routePrefix, String(trigger.route ?? name)].filter(Boolean).join("/")),
            methods: ((trigger.methods as string[] | undefined) ?? ["GET", "POST"]).map((method) =>
              method.toUpperCase(),
            ),
          });
          break;
        case "queueTrigger": {
          const resolved = resolveConnection(trigger.connection as string | undefined);
          if ("error" in resolved) {
            // The host indexes the other functions and keeps running; this one is in error.
            this.log(
              "error",
              `The '${name}' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method 'Functions.${name}'. ${resolved.error}`,
            );
            break;
          }
          this.startQueueListener(name, trigger, resolved.connectionString);
          break;
        }
        case "timerTrigger": {
          const retry = registration.metadata.retryOptions as FunctionRetryOptions | undefined;
          const scheduler = new TimerScheduler({
            functionName: name,
            schedule: resolveSetting(String(trigger.schedule)),
            runOnStartup: trigger.runOnStartup === true,
            statusDir: path.join(this.stateDir, "timers"),
            invoke: (data) =>
              invokeWithRetries(
                retry,
                (retryContext) => this.invokeNonHttp(name, data, {}, retryContext),
                undefined,
                () => this.stopping,
              ),
            log: this.log,
          });
          scheduler.start();
          this.timers.set(name, scheduler);
          break;
        }
        default:
          break; // orchestration/activity triggers belong to the durable engine
      }
    }
    markReady();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers.values()) timer.stop();
    await Promise.all([...this.queueListeners.values()].map((listener) => listener.stop()));
    await this.engine?.stop();
    if (this.app) {
      try {
        await this.app.recorder.runHooks("appTerminate", {
          hookData: this.app.recorder.appHookData,
          appHookData: this.app.recorder.appHookData,
        });
      } catch (error) {
        this.log("error", `appTerminate hook failed: ${(error as Error).message}`);
      }
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    await this.azurite?.stop();
  }

  /** Fire a timer trigger now (tests; `POST /admin/functions/<name>`). */
  async triggerTimer(name: string): Promise<void> {
    const timer = this.timers.get(name);
    if (!timer) throw new Error(`No timer function named '${name}'.`);
    await timer.fireNow();
  }

  /** Poll a queue trigger's queue now. */
  pokeQueue(functionName: string): void {
    this.queueListeners.get(functionName)?.poke();
  }

  /** Every HTTP route, queue and timer, for the start-up banner. */
  describe(): string[] {
    const lines = this.httpFunctions.all.map(
      (fn) => `  ${fn.name}: [${fn.methods.join(",")}] ${this.url}/${fn.route.template}`,
    );
    for (const [name, registration] of this.app.recorder.functions) {
      const [, trigger] = findTriggerBinding(registration.metadata.bindings);
      if (trigger.type === "queueTrigger") lines.push(`  ${name}: queueTrigger (${String(trigger.queueName)})`);
      if (trigger.type === "timerTrigger") lines.push(`  ${name}: timerTrigger (${String(trigger.schedule)})`);
      if (trigger.type === "orchestrationTrigger") lines.push(`  ${name}: orchestrationTrigger`);
      if (trigger.type === "activityTrigger") lines.push(`  ${name}: activityTrigger`);
    }
    lines.push(`  durable webhooks: ${this.url}${this.engine.webhookPrefix}/`);
    return lines;
  }

  private startQueueListener(name: string, trigger: RpcBindingInfo, connectionString: string): void {
    const queues = this.app.hostJson.extensions?.queues ?? {};
    const batchSize = queues.batchSize ?? 16;
    const listener = new QueueListener({
      functionName: name,
      queueName: resolveSetting(String(trigger.queueName)).toLowerCase(),
      connectionString,
      settings: {
        batchSize,
        // QueuesOptions.NewBatchThreshold defaults to batchSize/2 per processor.
        newBatchThreshold: queues.newBatchThreshold ?? Math.floor(batchSize / 2) * os.availableParallelism(),
        maxDequeueCount: queues.maxDequeueCount ?? 5,
        maxPollingIntervalMs: timeSpanToMs(queues.maxPollingInterval, 60_000),
        visibilityTimeoutSeconds: timeSpanToMs(queues.visibilityTimeout, 0) / 1000,
        messageEncoding: queues.messageEncoding ?? "base64",
        leaseSeconds: this.options.queueLeaseSeconds,
      },
      invoke: (data, metadata) => this.invokeNonHttp(name, data, metadata),
      log: this.log,
    });
    listener.start();
    this.queueListeners.set(name, listener);
  }

  private async invokeNonHttp(
    name: string,
    data: RpcTypedData,
    metadata: Record<string, RpcTypedData>,
    retryContext?: unknown,
  ): Promise<void> {
    await invokeFunction(this.app.recorder, name, data, {
      triggerMetadata: metadata,
      retryContext,
      extraInputsByType: { durableClient: this.engine.clientInputData() },
      outputs: this.outputs,
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = requestUrl(req);
    if ("error" in target) {
      writeHostError(res, 400, "BadRequest", target.error, { connection: "close" });
      return;
    }
    const url = target.url;
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      // The client went away mid-body: no function runs on half a request.
      this.log("warning", `Request ${req.method} ${url.pathname} dropped: ${(error as Error).message}`);
      writeHostError(res, 400, "BadRequest", "The request body ended early.", { connection: "close" });
      return;
    }
    try {
      await this.ready;
    } catch {
      writeHostError(res, 503, "ServiceUnavailable", "The host failed to start.");
      return;
    }
    if (url.pathname.startsWith(`${this.engine.webhookPrefix}/`)) return await this.engine.handleHttp(req, res, body);
    const admin = /^\/admin\/functions\/([^/]+)$/.exec(url.pathname);
    if (admin && req.method === "POST") {
      const name = decodeURIComponent(admin[1]);
      if (this.timers.has(name)) await this.triggerTimer(name);
      else {
        const input = body.length ? (JSON.parse(body.toString("utf8")) as { input?: string }).input : undefined;
        await this.invokeNonHttp(name, { string: input ?? "" }, {});
      }
      res.writeHead(202).end();
      return;
    }
    const method = (req.method ?? "GET").toUpperCase();
    const selected = this.httpFunctions.select(url.pathname, method);
    if (selected.kind === "match") return await this.invokeHttp(selected.entry, selected.params, req, url, body, res);
    // No function for the request: the Functions host answers an empty 404 for both cases
    // (azure-functions-host#10098); this host answers as the product's catch-all does (README).
    if (selected.kind === "method")
      writeHostError(res, 405, "MethodNotAllowed", `No route for ${method} ${url.pathname}.`, {
        allow: selected.allowed.join(", "),
      });
    else writeHostError(res, 404, "NotFound", `No route for ${method} ${url.pathname}.`);
  }

  /** A request the host could not finish: logged, answered 500 if an answer can still be given. */
  private requestFailed(req: http.IncomingMessage, res: http.ServerResponse, error: unknown): void {
    try {
      this.log("error", `Request ${req.method} ${req.url} failed: ${(error as Error)?.stack ?? String(error)}`);
      writeHostError(res, 500, "InternalServerError", "The host failed to handle the request.");
    } catch {
      res.destroy();
    }
  }

  private async invokeHttp(
    fn: HttpFunction,
    params: Record<string, string>,
    req: http.IncomingMessage,
    url: URL,
    body: Buffer,
    res: http.ServerResponse,
  ): Promise<void> {
    // ASP.NET's StringValues.ToString(): repeated headers and query keys arrive joined with ",".
    const headers: Record<string, string> = {};
    for (const [key, values] of Object.entries(req.headersDistinct)) if (values) headers[key] = values.join(",");
    const query: Record<string, string> = {};
    for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(",");
    const trigger: RpcTypedData = {
      // The URL the client used, Host header included, as the host sees it.
      http: {
        method: req.method ?? "GET",
        url: url.toString(),
        headers,
        query,
        params,
        body: body.length ? { bytes: new Uint8Array(body) } : undefined,
      },
    };
    let response;
    try {
      response = await invokeFunction(this.app.recorder, fn.name, trigger, {
        extraInputsByType: { durableClient: this.engine.clientInputData() },
        outputs: this.outputs,
      });
    } catch (error) {
      const cause = error instanceof FunctionInvocationError ? error.cause : error;
      this.log("error", `Function '${fn.name}' threw: ${(cause as Error)?.stack ?? String(cause)}`);
      res.writeHead(500).end();
      return;
    }
    writeHttpResponse(res, response.response.returnValue?.http);
  }
}

/** The whole body; rejects when the client goes away (or the body breaks off) before its end. */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("close", () => {
      if (!req.complete) reject(new Error("the request was aborted before its body ended"));
    });
  });
}

/**
 * A request Node's parser refused (malformed, headers too large, too slow): answered in the host's
 * error shape when nothing of a response has been written on the socket yet, as Node's own
 * handler decides, then the connection is closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, code] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "RequestHeaderFieldsTooLarge"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "RequestTimeout"]
        : [400, "BadRequest"];
  const body = hostErrorBody(code, `The request could not be read: ${error.code ?? error.message}.`);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** `%SettingName%` in binding options is read from app settings, as the host does. */
function resolveSetting(value: string): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => process.env[name] ?? "");
}
