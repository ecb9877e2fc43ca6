/**
 * Invoke a registered function through `@azure/functions`' own programming model, exactly as the
 * worker's InvocationHandler does: getInvocationModel -> getArguments -> preInvocation hooks ->
 * invokeFunction -> postInvocation hooks -> getResponse. Output bindings the response carries
 * are then handed to the host (bindings.ts), as the Functions host flushes them after the worker
 * answers.
 */
import { randomUUID } from "node:crypto";
import type { CoreApiRecorder, FunctionMetadata, InvocationResponse, RpcBindingInfo, RpcTypedData } from "./core-api";

/** Delivers an invocation's output bindings (storage queue messages...) once it succeeded. */
export interface OutputSink {
  deliver(metadata: FunctionMetadata, response: InvocationResponse): Promise<void>;
}

export interface InvokeOptions {
  /** Extra input bindings by type (e.g. durableClient) -> their RpcTypedData. */
  extraInputsByType?: Record<string, RpcTypedData>;
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
  retryContext?: unknown;
  log?: (level: string, category: string, message: string) => void;
  /** Where output bindings go; without one, a function that sets an output binding fails. */
  outputs?: OutputSink;
}

export interface InvokeResult {
  invocationId: string;
  response: InvocationResponse;
  /**
   * What the handler returned (after postInvocation hooks), before getResponse serialises it.
   * The durable engine needs it: an orchestrator's actions keep their object identity here.
   */
  result: unknown;
}

/** Raised when user code (or a hook) throws; carries the error as the worker would report it to the host. */
export class FunctionInvocationError extends Error {
  constructor(
    readonly functionName: string,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "FunctionInvocationError";
    if (cause instanceof Error && cause.stack) this.stack = cause.stack;
  }
}

export function findTriggerBinding(bindings: Record<string, RpcBindingInfo>): [string, RpcBindingInfo] {
  const found = Object.entries(bindings).find(([, binding]) => /trigger$/i.test(binding.type));
  if (!found) throw new Error("Function has no trigger binding.");
  return found;
}

/** The worker's isError: what a postInvocation hook leaves in `error` is rethrown only if it is one. */
function isError(value: unknown): value is Error {
  return (
    value instanceof Error || (typeof value === "object" && value !== null && "message" in value && "stack" in value)
  );
}

export async function invokeFunction(
  recorder: CoreApiRecorder,
  functionName: string,
  triggerData: RpcTypedData,
  options: InvokeOptions = {},
): Promise<InvokeResult> {
  const registration = recorder.functions.get(functionName);
  if (!registration) throw new Error(`No function named "${functionName}" is registered.`);
  const model = recorder.programmingModel;
  if (!model) throw new Error("No programming model has been set by the app.");

  const bindings = registration.metadata.bindings;
  const [triggerName] = findTriggerBinding(bindings);
  const inputData: { name: string; data: RpcTypedData }[] = [{ name: triggerName, data: triggerData }];
  for (const [bindingName, binding] of Object.entries(bindings)) {
    if (bindingName === triggerName || binding.direction !== "in") continue;
    const data = options.extraInputsByType?.[binding.type];
    if (data === undefined) throw new Error(`No value for input binding "${bindingName}" of type ${binding.type}.`);
    inputData.push({ name: bindingName, data });
  }

  const invocationId = options.invocationId ?? randomUUID();
  const log = options.log ?? recorder.logSink;
  const invocationModel = model.getInvocationModel({
    invocationId,
    metadata: registration.metadata,
    request: {
      invocationId,
      inputData,
      triggerMetadata: options.triggerMetadata ?? {},
      retryContext: options.retryContext,
    },
    state: "invocation",
    log,
  });
  const { context, inputs } = await invocationModel.getArguments();

  // The worker's hook contexts: one hookData per invocation, shared by its pre and post hooks.
  const hookData: Record<string, unknown> = {};
  const pre = {
    hookData,
    appHookData: recorder.appHookData,
    invocationContext: context,
    functionCallback: registration.callback,
    inputs,
  };
  const post: {
    hookData: Record<string, unknown>;
    appHookData: Record<string, unknown>;
    invocationContext: unknown;
    inputs: unknown[];
    result: unknown;
    error: unknown;
  } = {
    hookData,
    appHookData: recorder.appHookData,
    invocationContext: context,
    inputs,
    result: null,
    error: null,
  };
  try {
    await recorder.runHooks("preInvocation", pre);
  } catch (error) {
    throw new FunctionInvocationError(functionName, error);
  }
  post.inputs = pre.inputs;
  try {
    post.result = await invocationModel.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (error) {
    post.error = error;
  }
  try {
    await recorder.runHooks("postInvocation", post);
  } catch (error) {
    throw new FunctionInvocationError(functionName, error);
  }
  if (isError(post.error)) throw new FunctionInvocationError(functionName, post.error);

  let response: InvocationResponse;
  try {
    response = await invocationModel.getResponse(context, post.result);
  } catch (error) {
    // e.g. an HTTP response object the library cannot convert: the invocation fails.
    throw new FunctionInvocationError(functionName, error);
  }
  if (options.outputs) await options.outputs.deliver(registration.metadata, response);
  else assertNoOutputs(registration.metadata, response);
  return { invocationId, response, result: post.result };
}

/** Never drop an output silently: without a sink, a set output binding is an error. */
function assertNoOutputs(metadata: FunctionMetadata, response: InvocationResponse): void {
  const set = (response.outputData ?? []).map((output) => output.name);
  if (set.length > 0)
    throw new Error(
      `Function '${metadata.name}' set output binding(s) ${set.join(", ")} but this invocation has no output sink.`,
    );
}

/** Decode an RpcTypedData the way `@azure/functions` does for inputs (string may hold JSON). */
export function fromTypedData(data: RpcTypedData | undefined): unknown {
  if (!data) return undefined;
  if (data.json !== undefined) return JSON.parse(data.json);
  if (data.string !== undefined) return data.string;
  if (data.bytes !== undefined) return Buffer.from(data.bytes);
  if (data.int !== undefined) return data.int;
  if (data.double !== undefined) return data.double;
  return undefined;
}
