/**
 * Invoke a registered function through `@azure/functions`' own programming model, exactly as the
 * worker does: getInvocationModel -> getArguments -> invokeFunction -> getResponse.
 */
import { randomUUID } from "node:crypto";
import type { CoreApiRecorder, InvocationResponse, RpcBindingInfo, RpcTypedData } from "./core-api";

export interface InvokeOptions {
  /** Extra input bindings by type (e.g. durableClient) -> their RpcTypedData. */
  extraInputsByType?: Record<string, RpcTypedData>;
  triggerMetadata?: Record<string, RpcTypedData>;
  invocationId?: string;
  retryContext?: unknown;
  log?: (level: string, category: string, message: string) => void;
}

export interface InvokeResult {
  invocationId: string;
  response: InvocationResponse;
}

/** Raised when user code throws; carries the error as the worker would report it to the host. */
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
    request: { invocationId, inputData, triggerMetadata: options.triggerMetadata ?? {}, retryContext: options.retryContext },
    state: "invocation",
    log,
  });
  const { context, inputs } = await invocationModel.getArguments();
  let result: unknown;
  try {
    result = await invocationModel.invokeFunction(context, inputs, registration.callback);
  } catch (error) {
    throw new FunctionInvocationError(functionName, error);
  }
  const response = await invocationModel.getResponse(context, result);
  return { invocationId, response };
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
