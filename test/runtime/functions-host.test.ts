/** The local Functions host: HTTP routing, queue triggers on Azurite (base64, poison), timers, durable client. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueServiceClient } from "@azure/storage-queue";
import { FunctionsHost } from "../../src/runtime/host";
import { nextOccurrences } from "../../src/runtime/timers";
import { compileRoute } from "../../src/runtime/routes";

const APP = path.resolve(__dirname, "../fixtures/triggers-app");
const out = fs.mkdtempSync(path.join(os.tmpdir(), "shire-triggers-out-"));
let host: FunctionsHost;

beforeAll(async () => {
  process.env.FIXTURE_OUT = out;
  delete process.env.AzureWebJobsStorage;
  host = new FunctionsHost({ appRoot: APP, port: 0, stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "shire-triggers-")), log: () => {} });
  await host.start();
});
afterAll(async () => host?.stop());

function lines(name: string): Record<string, unknown>[] {
  const file = path.join(out, `${name}.jsonl`);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>) : [];
}

async function eventually<T>(read: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("HTTP triggers", () => {
  it("routes templates with parameters, constraints and catch-alls, and round-trips status, headers and body", async () => {
    expect(await (await fetch(`${host.url}/api/hello/ada?q=1`)).json()).toEqual({ hello: "ada", q: "1" });
    const echo = await fetch(`${host.url}/api/echo`, { method: "PUT", headers: { "x-probe": "p" }, body: "payload" });
    expect(echo.status).toBe(201);
    expect(echo.headers.get("x-echo-method")).toBe("PUT");
    expect(await echo.text()).toBe("p:payload");
    expect(await (await fetch(`${host.url}/api/items/42`)).json()).toEqual({ id: 42 });
    expect(await (await fetch(`${host.url}/api/items/a/b`)).json()).toEqual({ rest: "a/b" });
  });

  it("answers 404 for no route, 405 for a wrong method, 500 when the function throws", async () => {
    expect((await fetch(`${host.url}/api/nowhere`)).status).toBe(404);
    const wrong = await fetch(`${host.url}/api/echo`, { method: "DELETE" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toContain("POST");
    expect((await fetch(`${host.url}/api/boom`)).status).toBe(500);
  });

  it("compiles route templates as the Functions host reads them", () => {
    expect(compileRoute("api/a/{id:guid}").match("/api/a/6d8e3c1a-1111-4111-8111-111111111111")).toEqual({ id: "6d8e3c1a-1111-4111-8111-111111111111" });
    expect(compileRoute("api/a/{id:guid}").match("/api/a/nope")).toBeUndefined();
    expect(compileRoute("api/b/{x?}").match("/api/b")).toEqual({});
  });
});

describe("durable client through the host", () => {
  it("starts an orchestration from an HTTP starter and reports it through the management URLs", async () => {
    const started = await fetch(`${host.url}/api/greeter`, { method: "POST", body: JSON.stringify(["a", "b"]) });
    expect(started.status).toBe(202);
    const payload = (await started.json()) as { id: string; statusQueryGetUri: string };
    expect(started.headers.get("location")).toBe(payload.statusQueryGetUri);
    let body: { runtimeStatus: string; output: unknown } = { runtimeStatus: "", output: null };
    for (let i = 0; i < 100 && body.runtimeStatus !== "Completed"; i++) {
      body = (await (await fetch(payload.statusQueryGetUri)).json()) as typeof body;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(body).toMatchObject({ runtimeStatus: "Completed", output: ["Hello a", "Hello b"] });
  });
});

describe("queue triggers on Azurite", () => {
  it("delivers base64 messages with their metadata and deletes them on success", async () => {
    const queues = QueueServiceClient.fromConnectionString(host.storageConnectionString!);
    const queue = queues.getQueueClient("work-items");
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from(JSON.stringify({ job: 7 })).toString("base64"));
    host.pokeQueue("work");
    const [delivered] = await eventually(() => (lines("work").length ? lines("work") : undefined), "work item");
    expect(delivered).toMatchObject({ message: { job: 7 }, dequeueCount: 1 });
    expect(typeof delivered.id).toBe("string");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("moves a message that keeps failing to <queue>-poison after maxDequeueCount", async () => {
    const queues = QueueServiceClient.fromConnectionString(host.storageConnectionString!);
    const queue = queues.getQueueClient("doomed");
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from("bad message").toString("base64"));
    host.pokeQueue("alwaysFails");
    const poison = queues.getQueueClient("doomed-poison");
    let peeked: { messageText: string }[] = [];
    for (let i = 0; i < 200 && peeked.length === 0; i++) {
      if (await poison.exists()) peeked = (await poison.peekMessages()).peekedMessageItems;
      host.pokeQueue("alwaysFails");
      if (peeked.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(peeked.length, "no message reached doomed-poison").toBe(1);
    expect(Buffer.from(peeked[0].messageText, "base64").toString()).toBe("bad message");
    expect(lines("doomed").map((line) => line.dequeueCount)).toEqual([1, 2]);
  });
});

describe("timer triggers", () => {
  it("computes NCRONTAB occurrences in UTC and fires on demand", async () => {
    expect(nextOccurrences("0 */5 * * * *", new Date("2026-11-25T10:02:30Z"), 2).map((date) => date.toISOString())).toEqual(["2026-11-25T10:05:00.000Z", "2026-11-25T10:10:00.000Z"]);
    expect(() => nextOccurrences("*/5 * * * *", new Date(), 1)).toThrow(/six fields/);
    await host.triggerTimer("tick");
    const [tick] = lines("tick");
    expect(tick).toMatchObject({ isPastDue: false });
    expect(Date.parse(String(tick.next))).toBeGreaterThan(Date.now() - 1000);
  });
});
