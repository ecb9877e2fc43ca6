/**
 * The durable HTTP management API, driven through the real durable client (durable-functions'
 * DurableClient class) where the library has a call for it, and with fetch where only the
 * wire shows the difference (status codes, headers, history shape).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type * as df from "durable-functions";
import { durableClient, startHarness, until, type Harness } from "./durable-harness";

let harness: Harness;
let client: df.DurableClient;
beforeEach(async () => {
  harness = await startHarness();
  client = durableClient(harness.engine);
});
afterEach(async () => harness.close());

const api = (path: string) => `${harness.baseUrl}/runtime/webhooks/durabletask/${path}`;

async function completed(id: string): Promise<void> {
  await until(
    () => (harness.engine.getInstance(id)?.runtimeStatus === "Completed" ? true : undefined),
    `${id} completed`,
    harness.engine,
  );
}

describe("through the durable client", () => {
  it("getStatus of an unknown instance throws (404)", async () => {
    await expect(client.getStatus("nobody-here")).rejects.toThrow(/HTTP 404/);
    expect((await fetch(api("instances/nobody-here"))).status).toBe(404);
  });

  it("raiseEvent and terminate on a finished instance resolve (410), and 404 rejects", async () => {
    const id = await client.startNew("child", { instanceId: "done-1", input: { n: 1 } });
    await completed(id);
    await expect(client.raiseEvent(id, "go", 1)).resolves.toBeUndefined();
    await expect(client.terminate(id, "late")).resolves.toBeUndefined();
    const raw = await fetch(api(`instances/${id}/raiseEvent/go`), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "1",
    });
    expect(raw.status).toBe(410);
    expect((await fetch(api(`instances/${id}/terminate?reason=x`), { method: "POST" })).status).toBe(410);
    await expect(client.terminate("missing-1", "x")).rejects.toThrow(/No instance with ID 'missing-1' found/);
    await expect(client.raiseEvent("missing-1", "go", 1)).rejects.toThrow(/No instance with ID 'missing-1' found/);
  });

  it("raises an event and terminates a running one", async () => {
    const waiting = await client.startNew("waiter", { instanceId: "wait-1" });
    await harness.engine.waitForIdle();
    await client.raiseEvent(waiting, "go", { ok: true });
    await completed(waiting);
    expect((await client.getStatus(waiting)).output).toEqual({ ok: true });

    const stuck = await client.startNew("waiter", { instanceId: "wait-2" });
    await harness.engine.waitForIdle();
    await client.terminate(stuck, "enough");
    const status = await client.getStatus(stuck);
    expect([status.runtimeStatus, status.output]).toEqual(["Terminated", "enough"]);
  });

  it("refuses to start an id that is still running (the extension answers 500), and allows it once finished", async () => {
    await client.startNew("waiter", { instanceId: "busy-1" });
    await harness.engine.waitForIdle();
    await expect(client.startNew("waiter", { instanceId: "busy-1" })).rejects.toThrow(/unexpected status code: 500/);
    const raw = await fetch(api("orchestrators/waiter/busy-1"), { method: "POST" });
    expect(raw.status).toBe(500);
    expect(((await raw.json()) as { ExceptionMessage: string }).ExceptionMessage).toBe(
      "An Orchestration instance with the status Running already exists.",
    );
    await client.terminate("busy-1", "free it");
    await expect(client.startNew("child", { instanceId: "busy-1", input: { n: 3 } })).resolves.toBe("busy-1");
  });

  it("purges one instance, and purges by filter", async () => {
    for (const id of ["p-1", "p-2", "p-3"]) await client.startNew("child", { instanceId: id, input: { n: 1 } });
    await client.startNew("waiter", { instanceId: "p-running" });
    for (const id of ["p-1", "p-2", "p-3"]) await completed(id);

    expect(await client.purgeInstanceHistory("p-1")).toEqual({ instancesDeleted: 1 });
    await expect(client.getStatus("p-1")).rejects.toThrow(/404/);
    expect((await client.purgeInstanceHistory("p-1")).instancesDeleted).toBe(0); // 404 resolves to 0

    const purged = await client.purgeInstanceHistoryBy({
      createdTimeFrom: new Date(Date.now() - 60_000),
      runtimeStatus: ["Completed" as df.OrchestrationRuntimeStatus],
    });
    expect(purged.instancesDeleted).toBe(2);
    expect((await client.getStatus("p-running")).runtimeStatus).toBe("Running");
    expect(
      (
        await client.purgeInstanceHistoryBy({
          createdTimeFrom: new Date(Date.now() - 60_000),
          runtimeStatus: ["Completed" as df.OrchestrationRuntimeStatus],
        })
      ).instancesDeleted,
    ).toBe(0);
    expect((await fetch(api("instances/"), { method: "DELETE" })).status).toBe(400); // createdTimeFrom is required
  });

  it("queries by status and pages with top + continuation token", async () => {
    for (const id of ["q-1", "q-2", "q-3"]) await client.startNew("child", { instanceId: id, input: { n: 1 } });
    for (const id of ["q-1", "q-2", "q-3"]) await completed(id);
    const all = await client.getStatusBy({ runtimeStatus: ["Completed" as df.OrchestrationRuntimeStatus] });
    expect(all.map((status) => status.instanceId).sort()).toEqual(["q-1", "q-2", "q-3"]);
    const first = await fetch(api("instances/?top=2"));
    expect(((await first.json()) as unknown[]).length).toBe(2);
    const token = first.headers.get("x-ms-continuation-token");
    expect(token).toBeTruthy();
    const second = await fetch(api("instances/?top=2"), { headers: { "x-ms-continuation-token": token! } });
    expect(((await second.json()) as unknown[]).length).toBe(1);
    expect(second.headers.get("x-ms-continuation-token")).toBeNull();
  });
});

describe("on the wire", () => {
  it("answers a running instance's status with 202, Location and Retry-After, and times without fractions", async () => {
    await client.startNew("waiter", { instanceId: "wire-1" });
    await harness.engine.waitForIdle();
    const response = await fetch(api("instances/wire-1?showInput=false"));
    expect(response.status).toBe(202);
    expect(response.headers.get("location")).toBe(api("instances/wire-1?showInput=false"));
    expect(response.headers.get("retry-after")).toBe("5");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.createdTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(body.input).toBeNull();
  });

  it("starts with the 202 check-status response and 500s a failed status on request", async () => {
    const started = await fetch(api("orchestrators/thrower/fail-1"), { method: "POST" });
    expect(started.status).toBe(202);
    expect(started.headers.get("retry-after")).toBe("10");
    const links = (await started.json()) as Record<string, string>;
    expect(started.headers.get("location")).toBe(links.statusQueryGetUri);
    expect(Object.keys(links).sort()).toEqual([
      "id",
      "purgeHistoryDeleteUri",
      "restartPostUri",
      "resumePostUri",
      "sendEventPostUri",
      "statusQueryGetUri",
      "suspendPostUri",
      "terminatePostUri",
    ]);
    await until(
      () => (harness.engine.getInstance("fail-1")?.runtimeStatus === "Failed" ? true : undefined),
      "failure",
      harness.engine,
    );
    expect((await fetch(api("instances/fail-1"))).status).toBe(200);
    expect((await fetch(api("instances/fail-1?returnInternalServerErrorOnFailure=true"))).status).toBe(500);
  });

  it("validates instance ids, refuses non-orchestrators and extra path segments", async () => {
    for (const bad of ["@entity", "has%3Fquestion", "has%23hash", "tab%09id", "x".repeat(257)]) {
      const response = await fetch(api(`orchestrators/waiter/${bad}`), { method: "POST" });
      expect(response.status, bad).toBe(400);
    }
    expect(harness.engine.listInstances()).toEqual([]);
    expect((await fetch(api("orchestrators/hello"), { method: "POST" })).status).toBe(400); // an activity
    expect((await fetch(api("orchestrators/nothing-called-this"), { method: "POST" })).status).toBe(400);
    expect((await fetch(api("orchestrators/waiter/id-1/extra"), { method: "POST" })).status).toBe(404);
    expect((await fetch(api("orchestrators/waiter"), { method: "GET" })).status).toBe(404);
    expect(harness.engine.listInstances()).toEqual([]);
  });

  it("shows history as DurableClient does: names, completions carrying their schedule, no replay markers", async () => {
    const id = await client.startNew("child", { instanceId: "hist-1", input: { n: 4 } });
    await completed(id);
    const plain = (await (await fetch(api(`instances/${id}?showHistory=true`))).json()) as {
      historyEvents: Record<string, unknown>[];
    };
    expect(plain.historyEvents.map((event) => event.EventType)).toEqual([
      "ExecutionStarted",
      "TaskCompleted",
      "ExecutionCompleted",
    ]);
    const [started, task, done] = plain.historyEvents;
    expect(started).toMatchObject({ FunctionName: "child", Input: '{"n":4}' });
    expect(started).not.toHaveProperty("OrchestrationInstance");
    expect(task).toMatchObject({ FunctionName: "hello", Input: '"child-4"' });
    expect(task.ScheduledTime).toEqual(expect.any(String));
    for (const key of ["Result", "TaskScheduledId", "EventId", "IsPlayed"]) expect(task).not.toHaveProperty(key);
    expect(done).toMatchObject({ OrchestrationStatus: "Completed" });
    expect(done).not.toHaveProperty("Result");

    const full = (await (
      await fetch(api(`instances/${id}?showHistory=true&showHistoryOutput=true&showInput=false`))
    ).json()) as { historyEvents: Record<string, unknown>[] };
    expect(full.historyEvents[1]).toMatchObject({ Result: "Hello child-4" });
    expect(full.historyEvents[2]).toMatchObject({ Result: { n: 8, greeting: "Hello child-4" } });
    for (const event of full.historyEvents) expect(event).not.toHaveProperty("Input");
  });
});
