/**
 * Stand-in for `@azure/functions-core`, the module the Azure Functions Node worker injects into
 * the app's process. `@azure/functions` requires it lazily on the first `app.*` registration;
 * without it the package falls back to "test mode" and registers nothing. We provide the same
 * surface the worker does (setProgrammingModel, registerFunction, registerHook, log) and record
 * what the app registers, so the local host sees exactly what Azure Functions would.
 */
import Module from "node:module";
import path from "node:path";

/** A binding as the worker receives it: `{ type, direction, ...options }`, keyed by binding name. */
export interface RpcBindingInfo {
  type: string;
  direction?: "in" | "out" | "inout";
  [option: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: unknown;
  [key: string]: unknown;
}

/** The programming model object `@azure/functions` hands to the worker (see durable-facts.md §1). */
export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
  getCapabilities(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export interface CoreInvocationContext {
  invocationId: string;
  metadata: FunctionMetadata;
  request: InvocationRequest;
  state?: string;
  log(level: string, category: string, message: string): void;
}

export interface InvocationRequest {
  invocationId?: string;
  functionId?: string;
  inputData: { name: string; data: RpcTypedData }[];
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: unknown;
  traceContext?: unknown;
}

/** The worker's wire value: exactly one of these members is set. */
export interface RpcTypedData {
  string?: string;
  json?: string;
  bytes?: Uint8Array;
  http?: RpcHttpData;
  int?: number;
  double?: number;
  [other: string]: unknown;
}

export interface RpcHttpData {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: RpcTypedData;
  query?: Record<string, string>;
  params?: Record<string, string>;
  statusCode?: string | number;
  cookies?: unknown[];
  nullableHeaders?: Record<string, { value?: string }>;
  nullableQuery?: Record<string, { value?: string }>;
  nullableParams?: Record<string, { value?: string }>;
  [other: string]: unknown;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<InvocationResponse>;
}

export interface InvocationResponse {
  invocationId?: string;
  returnValue?: RpcTypedData;
  outputData?: { name: string; data: RpcTypedData }[];
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface Registration {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export interface HookRegistration {
  type: string;
  callback: (context: unknown) => unknown;
}

/** The hook names the Node worker accepts; it throws a RangeError for any other. */
export const HOOK_TYPES = ["appStart", "appTerminate", "preInvocation", "postInvocation", "log"] as const;

interface Disposable {
  dispose(): void;
}

/** Everything one loaded app registered with the stand-in core API. */
export class CoreApiRecorder {
  /** Run every hook of `type`, in registration order, one after the other (the worker's executeHooks). */
  async runHooks(type: (typeof HOOK_TYPES)[number], context: unknown): Promise<void> {
    for (const hook of this.hooks.filter((candidate) => candidate.type === type)) await hook.callback(context);
  }

  programmingModel: ProgrammingModel | undefined;
  readonly functions = new Map<string, Registration>();
  readonly hooks: HookRegistration[] = [];
  /** Shared by every app-level and invocation-level hook (the worker's `appHookData`). */
  readonly appHookData: Record<string, unknown> = {};
  logSink: (level: string, category: string, message: string) => void = () => {};

  /** The object `require("@azure/functions-core")` returns inside the app. */
  readonly api = {
    setProgrammingModel: (model: ProgrammingModel): void => {
      this.programmingModel = model;
    },
    getProgrammingModel: (): ProgrammingModel | undefined => this.programmingModel,
    registerFunction: (metadata: FunctionMetadata, callback: FunctionCallback): Disposable => {
      // The worker rejects duplicate names at start-up; so do we.
      if (this.functions.has(metadata.name)) {
        throw new Error(`A function named "${metadata.name}" is already registered.`);
      }
      this.functions.set(metadata.name, { metadata, callback });
      return { dispose: () => this.functions.delete(metadata.name) };
    },
    registerHook: (type: string, callback: (context: unknown) => unknown): Disposable => {
      if (!(HOOK_TYPES as readonly string[]).includes(type)) throw new RangeError(`Unrecognized hook "${type}"`);
      const hook = { type, callback };
      this.hooks.push(hook);
      return {
        dispose: () => {
          const at = this.hooks.indexOf(hook);
          if (at >= 0) this.hooks.splice(at, 1);
        },
      };
    },
    log: (level: string, category: string, message: string): void => this.logSink(level, category, message),
    Disposable: class {
      constructor(private readonly callOnDispose: () => void) {}
      static from(...items: Disposable[]): Disposable {
        return { dispose: () => items.forEach((item) => item.dispose()) };
      }
      dispose(): void {
        this.callOnDispose();
      }
    },
  };
}

const CORE_MODULE_ID = "@azure/functions-core";
// A path that cannot exist on disk, so the cache entry can only be the stand-in.
const CORE_MODULE_FILENAME = path.join(path.sep, "__shire_runtime__", "azure-functions-core.js");

interface ModuleInternals {
  _resolveFilename(request: string, ...rest: unknown[]): string;
  _cache: Record<string, unknown>;
}

let installedRecorder: CoreApiRecorder | undefined;

/**
 * Make `require("@azure/functions-core")` resolve to this recorder's API in this process.
 * One recorder per process, as one worker hosts one app; installing again returns the same one.
 */
export function installCoreApi(): CoreApiRecorder {
  if (installedRecorder) return installedRecorder;
  const recorder = new CoreApiRecorder();
  const moduleInternals = Module as unknown as ModuleInternals;
  const originalResolve = moduleInternals._resolveFilename;
  moduleInternals._resolveFilename = function resolveWithCore(this: unknown, request: string, ...rest: unknown[]) {
    if (request === CORE_MODULE_ID) return CORE_MODULE_FILENAME;
    return originalResolve.call(this, request, ...rest);
  };
  const coreModule = new Module(CORE_MODULE_FILENAME);
  coreModule.filename = CORE_MODULE_FILENAME;
  coreModule.loaded = true;
  coreModule.exports = recorder.api;
  moduleInternals._cache[CORE_MODULE_FILENAME] = coreModule;
  installedRecorder = recorder;
  return recorder;
}
