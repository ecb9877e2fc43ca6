/**
 * Queue triggers against real Azure Storage queues (Azurite locally), with the Functions host's
 * semantics: base64 messages by default, batch receive with a lease, delete on success, retry
 * until maxDequeueCount and then move the message to `<queue>-poison`, polling that backs off
 * to maxPollingInterval when the queue is empty.
 */
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";
import type { RpcTypedData } from "./worker/core-api";

export interface QueueSettings {
  batchSize: number;
  maxDequeueCount: number;
  maxPollingIntervalMs: number;
  visibilityTimeoutSeconds: number;
  messageEncoding: "base64" | "none";
}

export interface QueueListenerOptions {
  functionName: string;
  queueName: string;
  connectionString: string;
  settings: QueueSettings;
  invoke(triggerData: RpcTypedData, triggerMetadata: Record<string, RpcTypedData>): Promise<void>;
  log(level: string, message: string): void;
}

/** How long a received message stays invisible while the function runs. */
const LEASE_SECONDS = 300;

export class QueueListener {
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(private readonly options: QueueListenerOptions) {}

  start(): void {
    this.loop = this.run();
  }

  /** Poll now instead of waiting out the back-off (tests, and after an enqueue we know of). */
  poke(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const service = QueueServiceClient.fromConnectionString(this.options.connectionString);
    const queue = service.getQueueClient(this.options.queueName);
    const poison = service.getQueueClient(`${this.options.queueName}-poison`);
    let interval = 100;
    let created = false;
    while (!this.stopped) {
      try {
        if (!created) {
          await queue.createIfNotExists();
          created = true;
        }
        const received = await queue.receiveMessages({ numberOfMessages: this.options.settings.batchSize, visibilityTimeout: LEASE_SECONDS });
        if (received.receivedMessageItems.length === 0) {
          interval = Math.min(interval * 2, this.options.settings.maxPollingIntervalMs);
        } else {
          interval = 100;
          await Promise.all(received.receivedMessageItems.map((message) => this.process(queue, poison, message)));
          continue;
        }
      } catch (error) {
        if (this.stopped) break;
        this.options.log("warning", `Queue '${this.options.queueName}' poll failed: ${(error as Error).message}`);
        interval = this.options.settings.maxPollingIntervalMs;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private async process(
    queue: QueueClient,
    poison: QueueClient,
    message: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number; insertedOn: Date; expiresOn: Date; nextVisibleOn: Date },
  ): Promise<void> {
    const text = this.options.settings.messageEncoding === "base64" ? Buffer.from(message.messageText, "base64").toString("utf8") : message.messageText;
    const metadata: Record<string, RpcTypedData> = {
      Id: { json: JSON.stringify(message.messageId) },
      DequeueCount: { json: JSON.stringify(message.dequeueCount) },
      InsertionTime: { json: JSON.stringify(message.insertedOn.toISOString()) },
      ExpirationTime: { json: JSON.stringify(message.expiresOn.toISOString()) },
      NextVisibleTime: { json: JSON.stringify(message.nextVisibleOn.toISOString()) },
      PopReceipt: { json: JSON.stringify(message.popReceipt) },
    };
    try {
      await this.options.invoke({ string: text }, metadata);
      await queue.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      this.options.log("error", `Function '${this.options.functionName}' failed on message ${message.messageId} (dequeue ${message.dequeueCount}): ${(error as Error).message}`);
      if (message.dequeueCount >= this.options.settings.maxDequeueCount) {
        await poison.createIfNotExists();
        await poison.sendMessage(message.messageText);
        await queue.deleteMessage(message.messageId, message.popReceipt);
        this.options.log("warning", `Message ${message.messageId} moved to '${this.options.queueName}-poison' after ${message.dequeueCount} attempts.`);
      } else {
        await queue.updateMessage(message.messageId, message.popReceipt, undefined, this.options.settings.visibilityTimeoutSeconds);
      }
    }
  }
}

/** `hh:mm:ss` (host.json TimeSpan) to milliseconds. */
export function timeSpanToMs(value: string | undefined, fallbackMs: number): number {
  if (!value) return fallbackMs;
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!match) return fallbackMs;
  const [, days, hours, minutes, seconds] = match;
  return (((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}
