/**
 * The local Functions host: loads a v4 Node app the way the worker does and serves it on one
 * machine, playing the roles Azure Functions plays in the cloud: HTTP triggers on
 * 127.0.0.1:<port>/<routePrefix>/..., queue triggers from Azure Storage (Azurite when nothing is
 * configured), timer triggers, and the Durable Task extension (durable/engine.ts).
 */
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { loadApp, type LoadedApp } from "./worker/load-app";
import { findTriggerBinding, FunctionInvocationError, invokeFunction } from "./worker/invoke";
import type { RpcTypedData } from "./worker/core-api";
import { DurableEngine, type DurableClock, type DurableFaults } from "./durable/engine";
import { compileRoute, type CompiledRoute } from "./routes";
import { QueueListener, timeSpanToMs } from "./queues";
import { TimerScheduler } from "./timers";
import { azuriteLocation, startAzurite, type AzuriteHandle } from "./azurite";

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
}

interface HttpFunction {
  name: string;
  route: CompiledRoute;
  methods: string[];
  needsDurableClient: boolean;
}

export class FunctionsHost {
  engine!: DurableEngine;
  app!: LoadedApp;
  private server?: http.Server;
  private azurite?: AzuriteHandle;
  private httpFunctions: HttpFunction[] = [];
  private readonly queueListeners = new Map<string, QueueListener>();
  private readonly timers = new Map<string, TimerScheduler>();
  private address?: AddressInfo;
  private readonly log: (level: string, message: string) => void;

  constructor(private readonly options: FunctionsHostOptions) {
    this.log = options.log ?? ((level, message) => (level === "error" || level === "warning" ? console.error : console.log)(`[${level}] ${message}`));
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
    this.app = loadApp(this.options.appRoot);
    this.app.recorder.logSink = (level, category, message) => this.log(level, `${category === "user" ? "" : `(${category}) `}${message}`);
    const hostJson = this.app.hostJson;
    const routePrefix = (hostJson.extensions?.http?.routePrefix ?? "api").replace(/^\/+|\/+$/g, "");

    // Storage first: the app's settings (AzureWebJobsStorage) must be set before any function runs.
    const configured = this.options.storageConnectionString ?? process.env.AzureWebJobsStorage;
    if (!configured || /UseDevelopmentStorage=true/i.test(configured)) {
      this.azurite = await startAzurite(azuriteLocation(this.stateDir));
      this.effectiveStorage = this.azurite.connectionString;
      process.env.AzureWebJobsStorage = this.effectiveStorage;
    } else {
      this.effectiveStorage = configured;
    }

    this.server = http.createServer((req, res) => void this.handle(req, res, routePrefix));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.options.port ?? 7071, this.options.host ?? "127.0.0.1", () => resolve());
    });
    this.address = this.server.address() as AddressInfo;

    const durable = hostJson.extensions?.durableTask ?? {};
    this.engine = new DurableEngine({
      recorder: this.app.recorder,
      stateDir: this.stateDir,
      hubName: durable.hubName ?? "TestHubName",
      baseUrl: this.url,
      maxConcurrentActivities: durable.maxConcurrentActivityFunctions,
      maxConcurrentOrchestrations: durable.maxConcurrentOrchestratorFunctions,
      clock: this.options.clock,
      faults: this.options.durableFaults,
      log: this.log,
    });
    await this.engine.start();

    for (const [name, registration] of this.app.recorder.functions) {
      const [, trigger] = findTriggerBinding(registration.metadata.bindings);
      const needsDurableClient = Object.values(registration.metadata.bindings).some((binding) => binding.type === "durableClient");
      switch (trigger.type) {
        case "httpTrigger":
          this.httpFunctions.push({
            name,
            route: compileRoute(`${routePrefix}/${String(trigger.route ?? name)}`),
            methods: ((trigger.methods as string[] | undefined) ?? ["GET", "POST"]).map((method) => method.toUpperCase()),
            needsDurableClient,
          });
          break;
        case "queueTrigger":
          this.startQueueListener(name, trigger, needsDurableClient);
          break;
        case "timerTrigger": {
          const scheduler = new TimerScheduler({
            functionName: name,
            schedule: resolveSetting(String(trigger.schedule)),
            runOnStartup: trigger.runOnStartup === true,
            invoke: (data) => this.invokeNonHttp(name, data, {}, needsDurableClient),
            log: this.log,
          });
          scheduler.start();
          this.timers.set(name, scheduler);
          break;
        }
        default:
          break; // orchestration/activity/entity triggers belong to the durable engine
      }
    }
    // Most specific routes first (literal segments before parameters), as ASP.NET routing does.
    this.httpFunctions.sort((a, b) => routeRank(b.route.template) - routeRank(a.route.template));
  }

  async stop(): Promise<void> {
    for (const timer of this.timers.values()) timer.stop();
    await Promise.all([...this.queueListeners.values()].map((listener) => listener.stop()));
    await this.engine?.stop();
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
    const lines = this.httpFunctions.map((fn) => `  ${fn.name}: [${fn.methods.join(",")}] ${this.url}/${fn.route.template}`);
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

  private startQueueListener(name: string, trigger: Record<string, unknown>, needsDurableClient: boolean): void {
    const queues = this.app.hostJson.extensions?.queues ?? {};
    const connectionName = String(trigger.connection ?? "AzureWebJobsStorage");
    const connectionString = process.env[connectionName] ?? process.env[`${connectionName}__connectionString`] ?? this.effectiveStorage;
    if (!connectionString) throw new Error(`Queue function '${name}': app setting '${connectionName}' is not set.`);
    const listener = new QueueListener({
      functionName: name,
      queueName: resolveSetting(String(trigger.queueName)).toLowerCase(),
      connectionString,
      settings: {
        batchSize: queues.batchSize ?? 16,
        maxDequeueCount: queues.maxDequeueCount ?? 5,
        maxPollingIntervalMs: timeSpanToMs(queues.maxPollingInterval, 60_000),
        visibilityTimeoutSeconds: timeSpanToMs(queues.visibilityTimeout, 0) / 1000,
        messageEncoding: queues.messageEncoding ?? "base64",
      },
      invoke: (data, metadata) => this.invokeNonHttp(name, data, metadata, needsDurableClient),
      log: this.log,
    });
    listener.start();
    this.queueListeners.set(name, listener);
  }

  private async invokeNonHttp(name: string, data: RpcTypedData, metadata: Record<string, RpcTypedData>, needsDurableClient: boolean): Promise<void> {
    await invokeFunction(this.app.recorder, name, data, {
      triggerMetadata: metadata,
      extraInputsByType: needsDurableClient ? { durableClient: this.engine.clientInputData() } : {},
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, routePrefix: string): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", this.url);
    try {
      if (url.pathname.startsWith(`${this.engine.webhookPrefix}/`)) return await this.engine.handleHttp(req, res, body);
      const admin = /^\/admin\/functions\/([^/]+)$/.exec(url.pathname);
      if (admin && req.method === "POST") {
        const name = decodeURIComponent(admin[1]);
        if (this.timers.has(name)) await this.triggerTimer(name);
        else {
          const input = body.length ? (JSON.parse(body.toString("utf8")) as { input?: string }).input : undefined;
          await this.invokeNonHttp(name, { string: input ?? "" }, {}, false);
        }
        res.writeHead(202).end();
        return;
      }
      if (!url.pathname.startsWith(`/${routePrefix}/`) && url.pathname !== `/${routePrefix}`) {
        res.writeHead(404).end();
        return;
      }
      const path = url.pathname;
      const matches = this.httpFunctions.map((fn) => ({ fn, params: fn.route.match(path) })).filter((match) => match.params);
      if (matches.length === 0) {
        res.writeHead(404).end();
        return;
      }
      const method = (req.method ?? "GET").toUpperCase();
      const match = matches.find(({ fn }) => fn.methods.includes(method));
      if (!match) {
        res.writeHead(405, { allow: [...new Set(matches.flatMap(({ fn }) => fn.methods))].join(", ") }).end();
        return;
      }
      await this.invokeHttp(match.fn, match.params!, req, url, body, res);
    } catch (error) {
      this.log("error", `Request ${req.method} ${url.pathname} failed: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end();
    }
  }

  private async invokeHttp(fn: HttpFunction, params: Record<string, string>, req: http.IncomingMessage, url: URL, body: Buffer, res: http.ServerResponse): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(", ") : value;
    const query: Record<string, string> = {};
    url.searchParams.forEach((value, key) => (query[key] = value));
    const trigger: RpcTypedData = {
      http: { method: req.method ?? "GET", url: url.toString(), headers, query, params, body: body.length ? { bytes: new Uint8Array(body) } : undefined },
    };
    let response;
    try {
      response = await invokeFunction(this.app.recorder, fn.name, trigger, {
        extraInputsByType: fn.needsDurableClient ? { durableClient: this.engine.clientInputData() } : {},
      });
    } catch (error) {
      const cause = error instanceof FunctionInvocationError ? error.cause : error;
      this.log("error", `Function '${fn.name}' threw: ${(cause as Error)?.stack ?? String(cause)}`);
      res.writeHead(500).end();
      return;
    }
    const output = response.response.returnValue?.http;
    if (!output) {
      res.writeHead(204).end();
      return;
    }
    const status = Number(output.statusCode ?? 200);
    const outHeaders = (output.headers ?? {}) as Record<string, string>;
    const payload = typedDataToBuffer(output.body as RpcTypedData | undefined);
    const cookies = ((output.cookies as { name: string; value: string }[] | undefined) ?? []).map((cookie) => `${cookie.name}=${cookie.value}`);
    res.writeHead(status, { ...outHeaders, ...(cookies.length ? { "set-cookie": cookies } : {}) });
    res.end(payload);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function typedDataToBuffer(data: RpcTypedData | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes !== undefined) {
    const bytes = data.bytes as Uint8Array | Record<string, number>;
    return bytes instanceof Uint8Array ? Buffer.from(bytes) : Buffer.from(Object.values(bytes));
  }
  if (data.string !== undefined) return Buffer.from(data.string);
  if (data.json !== undefined) return Buffer.from(data.json);
  return Buffer.alloc(0);
}

/** `%SettingName%` in binding options is read from app settings, as the host does. */
function resolveSetting(value: string): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => process.env[name] ?? "");
}

function routeRank(template: string): number {
  return template.split("/").reduce((rank, part) => rank + (part.startsWith("{") ? (part.startsWith("{*") ? 0 : 1) : 3), 0);
}
