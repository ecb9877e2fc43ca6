/**
 * Queue triggers against real Azure Storage queues (Azurite locally), with the WebJobs queue
 * listener's semantics (QueueListener / QueueProcessor):
 * - messages are received with a 10-minute lease that is renewed at half-time for as long as the
 *   function runs, so a long function never sees its message delivered a second time;
 * - a message already past maxDequeueCount when received goes straight to `<queue>-poison`;
 * - a message that is not valid base64 (with base64 encoding) is moved to poison unread;
 * - success deletes the message; failure releases it for `visibilityTimeout`, or moves it to
 *   poison once its dequeue count reaches maxDequeueCount;
 * - a new batch is fetched once no more than newBatchThreshold messages are still running;
 * - polling backs off exponentially to maxPollingInterval while the queue is empty.
 */
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";
import type { RpcTypedData } from "./worker/core-api";

export interface QueueSettings {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  maxPollingIntervalMs: number;
  visibilityTimeoutSeconds: number;
  messageEncoding: "base64" | "none";
  /** How long a received message stays invisible; renewed at half-time. The listener's 10 minutes by default. */
  leaseSeconds?: number;
}

export interface QueueListenerOptions {
  functionName: string;
  queueName: string;
  connectionString: string;
  settings: QueueSettings;
  invoke(triggerData: RpcTypedData, triggerMetadata: Record<string, RpcTypedData>): Promise<void>;
  log(level: string, message: string): void;
}

interface ReceivedMessage {
  messageId: string;
  popReceipt: string;
  messageText: string;
  dequeueCount: number;
  insertedOn: Date;
  expiresOn: Date;
  nextVisibleOn: Date;
}

const DEFAULT_LEASE_SECONDS = 600;
const MINIMUM_POLLING_MS = 100;

/** Strict base64, as Convert.FromBase64String accepts it (whitespace ignored, padding required). */
function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\s]/g, "");
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, "base64");
}

export class QueueListener {
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private readonly running = new Set<Promise<void>>();

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
    await Promise.allSettled([...this.running]);
  }

  private get leaseSeconds(): number {
    return this.options.settings.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  }

  private async run(): Promise<void> {
    const service = QueueServiceClient.fromConnectionString(this.options.connectionString);
    const queue = service.getQueueClient(this.options.queueName);
    const poison = service.getQueueClient(`${this.options.queueName}-poison`);
    let interval = MINIMUM_POLLING_MS;
    let created = false;
    while (!this.stopped) {
      try {
        if (!created) {
          await queue.createIfNotExists();
          created = true;
        }
        const received = await queue.receiveMessages({
          numberOfMessages: this.options.settings.batchSize,
          visibilityTimeout: this.leaseSeconds,
        });
        if (received.receivedMessageItems.length > 0) {
          interval = MINIMUM_POLLING_MS;
          for (const message of received.receivedMessageItems) {
            const task = this.process(queue, poison, message).catch((error: unknown) =>
              this.options.log("error", `Queue '${this.options.queueName}': ${(error as Error).message}`),
            );
            this.running.add(task);
            void task.finally(() => this.running.delete(task));
          }
          // WaitForNewBatchThreshold: fetch again once few enough messages are still running.
          while (this.running.size > this.options.settings.newBatchThreshold) await Promise.race(this.running);
          continue;
        }
        interval = Math.min(interval * 2, this.options.settings.maxPollingIntervalMs);
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

  private async process(queue: QueueClient, poison: QueueClient, received: ReceivedMessage): Promise<void> {
    const message = { ...received };
    const { maxDequeueCount, messageEncoding, visibilityTimeoutSeconds } = this.options.settings;
    if (message.dequeueCount > maxDequeueCount) {
      await this.moveToPoison(queue, poison, message, `Message has reached MaxDequeueCount of ${maxDequeueCount}.`);
      return;
    }
    let text = message.messageText;
    if (messageEncoding === "base64") {
      const decoded = decodeBase64(message.messageText);
      if (!decoded) {
        this.options.log(
          "warning",
          `Message decoding has failed! Check MessageEncoding settings. MessageId=${message.messageId}.`,
        );
        await this.moveToPoison(queue, poison, message, "Message decoding has failed.");
        return;
      }
      text = decoded.toString("utf8");
    }
    const metadata: Record<string, RpcTypedData> = {
      QueueTrigger: { string: text },
      Id: { string: message.messageId },
      DequeueCount: { json: JSON.stringify(message.dequeueCount) },
      InsertionTime: { json: JSON.stringify(message.insertedOn.toISOString()) },
      ExpirationTime: { json: JSON.stringify(message.expiresOn.toISOString()) },
      NextVisibleTime: { json: JSON.stringify(message.nextVisibleOn.toISOString()) },
      PopReceipt: { string: message.popReceipt },
    };

    const renewal = this.keepLeased(queue, message);
    let failed: unknown;
    try {
      await this.options.invoke({ string: text }, metadata);
    } catch (error) {
      failed = error;
    } finally {
      await renewal.stop();
    }
    if (failed === undefined) {
      await queue.deleteMessage(message.messageId, message.popReceipt);
      return;
    }
    this.options.log(
      "error",
      `Function '${this.options.functionName}' failed on message ${message.messageId} (dequeue ${message.dequeueCount}): ${(failed as Error).message}`,
    );
    if (message.dequeueCount >= maxDequeueCount) {
      await this.moveToPoison(queue, poison, message, `Message has reached MaxDequeueCount of ${maxDequeueCount}.`);
    } else {
      await queue.updateMessage(message.messageId, message.popReceipt, undefined, visibilityTimeoutSeconds);
    }
  }

  /**
   * Renew the message's invisibility at half the lease while the function runs
   * (UpdateQueueMessageVisibilityCommand); each renewal changes the pop receipt.
   */
  private keepLeased(queue: QueueClient, message: ReceivedMessage): { stop(): Promise<void> } {
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<void> = Promise.resolve();
    let stopped = false;
    const schedule = () => {
      timer = setTimeout(
        () => {
          pending = queue
            .updateMessage(message.messageId, message.popReceipt, undefined, this.leaseSeconds)
            .then((receipt) => {
              if (receipt.popReceipt) message.popReceipt = receipt.popReceipt;
              if (receipt.nextVisibleOn) message.nextVisibleOn = receipt.nextVisibleOn;
            })
            .catch((error: unknown) =>
              this.options.log(
                "warning",
                `Queue '${this.options.queueName}': could not renew message ${message.messageId}: ${(error as Error).message}`,
              ),
            )
            .finally(() => {
              if (!stopped) schedule();
            });
        },
        (this.leaseSeconds * 1000) / 2,
      );
    };
    schedule();
    return {
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await pending;
      },
    };
  }

  private async moveToPoison(
    queue: QueueClient,
    poison: QueueClient,
    message: ReceivedMessage,
    why: string,
  ): Promise<void> {
    this.options.log("warning", `${why} Moving message to queue '${this.options.queueName}-poison'.`);
    await poison.createIfNotExists();
    await poison.sendMessage(message.messageText); // the body as stored, still encoded
    await queue.deleteMessage(message.messageId, message.popReceipt);
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
