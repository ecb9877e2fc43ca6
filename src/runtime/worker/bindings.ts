/**
 * Which bindings the local host implements, and the output bindings it delivers.
 *
 * The Functions host flushes an invocation's output bindings after the worker answers; a binding
 * type the local host does not know would otherwise be dropped without a word, so an app that
 * declares one is refused at start-up instead. Storage queue outputs (`output.storageQueue`,
 * binding type `queue`) are written to the connection the binding names, encoded as the host's
 * `extensions.queues.messageEncoding` says, one message per array element.
 */
import { QueueServiceClient } from "@azure/storage-queue";
import type { FunctionMetadata, InvocationResponse, Registration, RpcBindingInfo, RpcTypedData } from "./core-api";
import { findTriggerBinding, fromTypedData, type OutputSink } from "./invoke";

const TRIGGERS = new Set(["httpTrigger", "queueTrigger", "timerTrigger", "activityTrigger", "orchestrationTrigger"]);
const INPUTS = new Set(["durableClient"]);
const OUTPUTS = new Set(["http", "queue"]);

/** A connection name resolved to a storage connection string, or the reason it cannot be. */
export type ConnectionResolver = (
  connectionName: string | undefined,
) => { connectionString: string } | { error: string };

/** Every binding the app declares that the local host would not honour, as one message each. */
export function unsupportedBindings(functions: Iterable<[string, Registration]>): string[] {
  const problems: string[] = [];
  for (const [name, registration] of functions) {
    const [triggerName, trigger] = findTriggerBinding(registration.metadata.bindings);
    if (!TRIGGERS.has(trigger.type))
      problems.push(`${name}: trigger type '${trigger.type}' is not implemented by the local host.`);
    for (const [bindingName, binding] of Object.entries(registration.metadata.bindings)) {
      if (bindingName === triggerName) continue;
      const supported = binding.direction === "out" ? OUTPUTS : INPUTS;
      if (!supported.has(binding.type))
        problems.push(
          `${name}: ${binding.direction ?? "in"} binding '${bindingName}' of type '${binding.type}' is not implemented by the local host.`,
        );
    }
  }
  return problems;
}

export class OutputBindings implements OutputSink {
  private readonly clients = new Map<string, QueueServiceClient>();
  private readonly created = new Set<string>();

  constructor(
    private readonly resolveConnection: ConnectionResolver,
    private readonly encoding: "base64" | "none",
    private readonly resolveSetting: (value: string) => string = (value) => value,
  ) {}

  async deliver(metadata: FunctionMetadata, response: InvocationResponse): Promise<void> {
    const values = new Map<string, RpcTypedData>();
    for (const output of response.outputData ?? []) values.set(output.name, output.data);
    if (response.returnValue && metadata.bindings.$return?.type === "queue")
      values.set("$return", response.returnValue);
    for (const [name, data] of values) {
      const binding = metadata.bindings[name];
      if (!binding || binding.type === "http") continue;
      if (binding.type !== "queue")
        throw new Error(
          `Function '${metadata.name}': output binding '${name}' of type '${binding.type}' is not implemented by the local host.`,
        );
      await this.sendToQueue(metadata.name, binding, data);
    }
  }

  private async sendToQueue(functionName: string, binding: RpcBindingInfo, data: RpcTypedData): Promise<void> {
    const resolved = this.resolveConnection(binding.connection as string | undefined);
    if ("error" in resolved) throw new Error(`Function '${functionName}': ${resolved.error}`);
    const queueName = this.resolveSetting(String(binding.queueName ?? "")).toLowerCase();
    let service = this.clients.get(resolved.connectionString);
    if (!service) {
      service = QueueServiceClient.fromConnectionString(resolved.connectionString);
      this.clients.set(resolved.connectionString, service);
    }
    const queue = service.getQueueClient(queueName);
    const key = `${resolved.connectionString}|${queueName}`;
    if (!this.created.has(key)) {
      await queue.createIfNotExists(); // the queue output binding creates its queue on first write
      this.created.add(key);
    }
    for (const message of queueMessages(data)) {
      await queue.sendMessage(this.encoding === "base64" ? message.toString("base64") : message.toString("utf8"));
    }
  }
}

/** An output value as queue message bodies: an array is one message per element; objects are JSON. */
function queueMessages(data: RpcTypedData): Buffer[] {
  if (data.bytes !== undefined) return [Buffer.from(data.bytes as Uint8Array)];
  const value = fromTypedData(data);
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) =>
    Buffer.isBuffer(item) ? item : Buffer.from(typeof item === "string" ? item : JSON.stringify(item), "utf8"),
  );
}
