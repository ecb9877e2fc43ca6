/** The local Functions host: HTTP routing, queue triggers on Azurite (base64, poison), timers, durable client. */
import http from "node:http";
import { describe, expect, it } from "vitest";
import { QueueServiceClient } from "@azure/storage-queue";
import { nextOccurrences } from "../../src/runtime/timers";
import { compileRoute } from "../../src/runtime/routes";
import { fixtureOutput, useFunctionsHost } from "../fixtures/functions-host";
import { until } from "../fixtures/wait";

const { dir: out, lines } = fixtureOutput();
const triggers = useFunctionsHost({
  app: "triggers-app",
  env: { FIXTURE_OUT: out, AzureWebJobsStorage: undefined }, // the host starts Azurite
});

describe("HTTP triggers", () => {
  it("routes templates with parameters, constraints and catch-alls, and round-trips status, headers and body", async () => {
    expect(await (await fetch(`${triggers.host.url}/api/hello/ada?q=1`)).json()).toEqual({ hello: "ada", q: "1" });
    const echo = await fetch(`${triggers.host.url}/api/echo`, {
      method: "PUT",
      headers: { "x-probe": "p" },
      body: "payload",
    });
    expect(echo.status).toBe(201);
    expect(echo.headers.get("x-echo-method")).toBe("PUT");
    expect(await echo.text()).toBe("p:payload");
    expect(await (await fetch(`${triggers.host.url}/api/items/42`)).json()).toEqual({ id: 42 });
    expect(await (await fetch(`${triggers.host.url}/api/items/a/b`)).json()).toEqual({ rest: "a/b" });
  });

  it("answers a JSON 404 for no route, a JSON 405 for a route without the method, 500 when the function throws", async () => {
    const nowhere = await fetch(`${triggers.host.url}/api/nowhere`);
    expect(nowhere.status).toBe(404);
    expect(nowhere.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await nowhere.json()).toEqual({ error: { code: "NotFound", message: "No route for GET /api/nowhere." } });
    // The Functions host answers an empty 404 here (azure-functions-host#10098); this host answers
    // as the product's catch-all does (README, faithfulness notes).
    const wrong = await fetch(`${triggers.host.url}/api/echo`, { method: "DELETE" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST, PUT");
    expect(await wrong.json()).toEqual({
      error: { code: "MethodNotAllowed", message: "No route for DELETE /api/echo." },
    });
    expect((await fetch(`${triggers.host.url}/api/boom`)).status).toBe(500);
  });

  it("writes Set-Cookie with every attribute, as ASP.NET does from the worker's cookies", async () => {
    const response = await fetch(`${triggers.host.url}/api/cookie`);
    expect(response.headers.getSetCookie()).toEqual([
      "sid=a%20b%3Bc; max-age=60; domain=example.test; path=/app; secure; samesite=strict; httponly",
      "plain=v; path=/",
      "cross=x; expires=Wed, 02 Jan 2030 03:04:05 GMT; path=/; samesite=none",
    ]);
  });

  it("gives the function the URL the client used (Host header) and repeated query keys joined", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const request = http.request(
        `${triggers.host.url}/api/whoami?q=1&q=2`,
        { headers: { host: "shire.example:8443" } },
        (response) => {
          let text = "";
          response.on("data", (chunk: Buffer) => (text += chunk.toString()));
          response.on("end", () => resolve(text));
        },
      );
      request.on("error", reject);
      request.end();
    });
    expect(JSON.parse(body)).toEqual({ url: "http://shire.example:8443/api/whoami?q=1&q=2", q: "1,2", all: ["1,2"] });
  });

  it("applies route constraints with arguments, chained constraints and default values", async () => {
    const json = async (route: string) => {
      const response = await fetch(`${triggers.host.url}/api/${route}`);
      return response.status === 200 ? ((await response.json()) as unknown) : response.status;
    };
    expect(await json("big/12")).toEqual({ big: "12" });
    expect(await json("big/9")).toBe(404);
    expect(await json("codes/abc")).toEqual({ code: "abc" });
    expect(await json("codes/abcd")).toBe(404);
    expect(await json("pages")).toEqual({ page: "1" });
    expect(await json("pages/3")).toEqual({ page: "3" });
    expect(await json("files/readme.txt")).toEqual({ file: "readme.txt" });
    expect(await json("files/readme.md")).toBe(404);
  });

  it("orders routes by ASP.NET precedence, segment by segment", async () => {
    expect(await (await fetch(`${triggers.host.url}/api/docs/shared/page`)).json()).toEqual({ handler: "docs" });
    expect(await (await fetch(`${triggers.host.url}/api/other/shared/page`)).json()).toEqual({ handler: "anyArea" });
  });

  it("compiles route templates as the Functions host reads them", () => {
    expect(compileRoute("api/a/{id:guid}").match("/api/a/6d8e3c1a-1111-4111-8111-111111111111")).toEqual({
      id: "6d8e3c1a-1111-4111-8111-111111111111",
    });
    expect(compileRoute("api/a/{id:guid}").match("/api/a/nope")).toBeUndefined();
    expect(compileRoute("api/b/{x?}").match("/api/b")).toEqual({});
  });
});

describe("durable client through the host", () => {
  it("starts an orchestration from an HTTP starter and reports it through the management URLs", async () => {
    const started = await fetch(`${triggers.host.url}/api/greeter`, {
      method: "POST",
      body: JSON.stringify(["a", "b"]),
    });
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
    const queues = QueueServiceClient.fromConnectionString(triggers.host.storageConnectionString!);
    const queue = queues.getQueueClient("work-items");
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from(JSON.stringify({ job: 7 })).toString("base64"));
    triggers.host.pokeQueue("work");
    const [delivered] = await until(() => (lines("work").length ? lines("work") : undefined), "work item", {
      attempts: 300,
    });
    expect(delivered).toMatchObject({ message: { job: 7 }, dequeueCount: 1 });
    expect(typeof delivered.id).toBe("string");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("moves a message that keeps failing to <queue>-poison after maxDequeueCount", async () => {
    const queues = QueueServiceClient.fromConnectionString(triggers.host.storageConnectionString!);
    const queue = queues.getQueueClient("doomed");
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from("bad message").toString("base64"));
    triggers.host.pokeQueue("alwaysFails");
    const poison = queues.getQueueClient("doomed-poison");
    let peeked: { messageText: string }[] = [];
    for (let i = 0; i < 200 && peeked.length === 0; i++) {
      if (await poison.exists()) peeked = (await poison.peekMessages()).peekedMessageItems;
      triggers.host.pokeQueue("alwaysFails");
      if (peeked.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(peeked.length, "no message reached doomed-poison").toBe(1);
    expect(Buffer.from(peeked[0].messageText, "base64").toString()).toBe("bad message");
    expect(lines("doomed").map((line) => line.dequeueCount)).toEqual([1, 2]);
  });
});

describe("output bindings", () => {
  it("writes a storage queue output, one base64 message per array element", async () => {
    const response = await fetch(`${triggers.host.url}/api/enqueue`, {
      method: "POST",
      body: JSON.stringify(["first", { second: 2 }]),
    });
    expect(response.status).toBe(202);
    const queue = QueueServiceClient.fromConnectionString(triggers.host.storageConnectionString!).getQueueClient(
      "outbox",
    );
    const peeked = (await queue.peekMessages({ numberOfMessages: 10 })).peekedMessageItems.map((message) =>
      Buffer.from(message.messageText, "base64").toString(),
    );
    expect(peeked).toEqual(["first", '{"second":2}']);
  });
});

describe("app hooks", () => {
  it("ran appStart before anything, and runs preInvocation/postInvocation around every invocation", async () => {
    await fetch(`${triggers.host.url}/api/hello/hooks`);
    const hooks = lines("hooks");
    expect(hooks[0]).toEqual({ hook: "appStart" });
    expect(hooks.filter((hook) => hook.hook === "appStart")).toHaveLength(1);
    expect(hooks).toContainEqual({ hook: "preInvocation", functionName: "hello", inputs: 1 });
    expect(hooks).toContainEqual({
      hook: "postInvocation",
      functionName: "hello",
      sameInvocation: true,
      failed: false,
    });
  });
});

describe("timer triggers", () => {
  it("computes NCRONTAB occurrences in UTC and fires on demand", async () => {
    expect(
      nextOccurrences("0 */5 * * * *", new Date("2026-11-25T10:02:30Z"), 2).map((date) => date.toISOString()),
    ).toEqual(["2026-11-25T10:05:00.000Z", "2026-11-25T10:10:00.000Z"]);
    // Five fields are valid too (CronSchedule: anything but five includes seconds).
    expect(
      nextOccurrences("*/5 * * * *", new Date("2026-11-25T10:02:30Z"), 1).map((date) => date.toISOString()),
    ).toEqual(["2026-11-25T10:05:00.000Z"]);
    await triggers.host.triggerTimer("tick");
    const [tick] = lines("tick");
    expect(tick).toMatchObject({ isPastDue: false });
    expect(Date.parse(String(tick.next))).toBeGreaterThan(Date.now() - 1000);
  });

  it("retries a failing timer function with its retry policy, passing retryContext", async () => {
    await triggers.host.triggerTimer("flakyTick");
    expect(lines("flakyTick")).toEqual([
      { attempt: 1, retryCount: 0 },
      { attempt: 2, retryCount: 1 },
      { attempt: 3, retryCount: 2 },
    ]);
  });
});

describe("connections", () => {
  it("puts a queue function whose connection setting does not exist in error, and runs the rest", () => {
    expect(triggers.logs.join("\n")).toContain(
      "The 'badConnection' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method 'Functions.badConnection'. Storage account connection string 'AzureWebJobsNoSuchStorage' does not exist.",
    );
  });
});
