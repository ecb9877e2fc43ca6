/**
 * Queue triggers with the WebJobs listener's semantics, on an Azurite this file starts itself so
 * it can fill a queue before the host starts: lease renewal while a function runs, poison on
 * receive past maxDequeueCount, poison for undecodable base64, and the trigger metadata.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueServiceClient, type QueueClient } from "@azure/storage-queue";
import { startAzurite, type AzuriteHandle } from "../../src/runtime/azurite";
import { fixtureOutput, useFunctionsHost } from "../fixtures/functions-host";
import { until } from "../fixtures/wait";

const { dir: out, lines } = fixtureOutput();
let azurite: AzuriteHandle;
let queues: QueueServiceClient;

async function poisonOf(queue: string): Promise<string[]> {
  const poison = queues.getQueueClient(`${queue}-poison`);
  if (!(await poison.exists())) return [];
  return (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((message) => message.messageText);
}

/** Receive and release a message `times` times, so its dequeue count grows without a function seeing it. */
async function dequeueTimes(queue: QueueClient, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const [message] = (await queue.receiveMessages({ visibilityTimeout: 30 })).receivedMessageItems;
    await queue.updateMessage(message.messageId, message.popReceipt, undefined, 0);
  }
}

beforeAll(async () => {
  azurite = await startAzurite(path.join(triggers.stateDir, "azurite"));
  queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
  // triggers-app: maxDequeueCount 2. This message has been dequeued 3 times before the host ever sees it.
  const preloaded = queues.getQueueClient("preloaded");
  await preloaded.createIfNotExists();
  await preloaded.sendMessage(Buffer.from("seen too often").toString("base64"));
  await dequeueTimes(preloaded, 3);
});
afterAll(async () => azurite?.stop());

// After the hooks above: the host starts once the queue is filled and stops before Azurite does.
const triggers = useFunctionsHost({
  app: "triggers-app",
  env: { FIXTURE_OUT: out },
  host: () => ({ storageConnectionString: azurite.connectionString, queueLeaseSeconds: 2 }),
});

describe("queue listener", () => {
  it("moves a message already past maxDequeueCount to poison without running the function", async () => {
    triggers.host.pokeQueue("preloaded");
    const poisoned = await until(
      async () => ((await poisonOf("preloaded")).length > 0 ? poisonOf("preloaded") : undefined),
      "preloaded-poison",
      { attempts: 200 },
    );
    expect(poisoned.map((text) => Buffer.from(text, "base64").toString())).toEqual(["seen too often"]);
    expect(lines("preloaded")).toEqual([]);
  });

  it("moves a message that is not valid base64 to poison unread", async () => {
    const probe = queues.getQueueClient("probe");
    await probe.createIfNotExists();
    await probe.sendMessage("this is not base64!");
    triggers.host.pokeQueue("metadataProbe");
    const poisoned = await until(
      async () => ((await poisonOf("probe")).length > 0 ? poisonOf("probe") : undefined),
      "probe-poison",
      { attempts: 200 },
    );
    expect(poisoned).toEqual(["this is not base64!"]);
    expect(lines("probe")).toEqual([]);
  });

  it("passes the trigger metadata the host provides", async () => {
    const probe = queues.getQueueClient("probe");
    await probe.sendMessage(Buffer.from(JSON.stringify({ hello: "metadata" })).toString("base64"));
    triggers.host.pokeQueue("metadataProbe");
    const [seen] = await until(() => (lines("probe").length > 0 ? lines("probe") : undefined), "probe message", {
      attempts: 200,
    });
    const metadata = seen.metadata as Record<string, unknown>;
    expect(seen.message).toEqual({ hello: "metadata" });
    expect(Object.keys(metadata).sort()).toEqual([
      "dequeueCount",
      "expirationTime",
      "id",
      "insertionTime",
      "nextVisibleTime",
      "popReceipt",
      "queueTrigger",
    ]);
    expect(metadata.queueTrigger).toEqual({ hello: "metadata" });
    expect(metadata.dequeueCount).toBe(1);
  });

  it("renews the lease while a function runs longer than it, so the message is not delivered twice", async () => {
    const slow = queues.getQueueClient("slow-work");
    await slow.createIfNotExists();
    await slow.sendMessage(Buffer.from(JSON.stringify({ ms: 5000 })).toString("base64"));
    triggers.host.pokeQueue("slowWorker");
    await until(() => (lines("slow").length > 0 ? true : undefined), "slow start", { attempts: 200 });
    // The lease is 2 s; without renewal the message would be visible again and delivered a second time.
    for (let i = 0; i < 12; i++) {
      triggers.host.pokeQueue("slowWorker");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(lines("slow")).toEqual([{ message: { ms: 5000 }, dequeueCount: 1 }]);
    await until(
      async () => ((await slow.getProperties()).approximateMessagesCount === 0 ? true : undefined),
      "slow message deleted",
      { attempts: 200 },
    );
  });
});
