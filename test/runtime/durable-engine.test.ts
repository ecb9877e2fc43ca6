import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/sandbox/state";
import { HistoryEventType } from "../../src/runtime/durable/types";
import fs from "node:fs";
import path from "node:path";
import { deliveries, releaseGate, startHarness, until, type Harness } from "./durable-harness";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("durable engine with the real durable-functions orchestrator", () => {
  it("runs fan-out, retry, timer, sub-orchestration and external event to the result its history says", async () => {
    const clock = new ManualClock(Date.parse("2026-11-25T10:00:00Z"));
    harness = await startHarness({ clock });
    const { engine } = harness;
    engine.startInstance("sample", "sample-1", ["a", "b", "c"]);
    await engine.waitForIdle();

    // flaky failed once; its retry timer is pending on the manual clock.
    expect(engine.getInstance("sample-1")?.customStatus).toEqual({ phase: "retry" });
    await engine.advanceTime(1_000); // first retry interval
    await engine.advanceTime(1_000); // second retry: backoff coefficient 1
    expect(engine.getInstance("sample-1")?.customStatus).toEqual({ phase: "timer" });
    await engine.advanceTime(60_000);
    await until(
      () =>
        (engine.getInstance("sample-1")?.customStatus as { phase?: string })?.phase === "waiting-for-approval" ||
        undefined,
      "approval wait",
      engine,
      200,
    );

    expect(engine.raiseEvent("sample-1", "approval", { approved: true, by: "ops" })).toBe(true);
    await engine.waitForIdle();

    const state = engine.getInstance("sample-1")!;
    expect(state.runtimeStatus).toBe("Completed");
    expect(state.output).toEqual({
      greetings: ["Hello a", "Hello b", "Hello c"],
      retriedOnAttempt: 3,
      fromChild: { n: 42, greeting: "Hello child-21" },
      approval: { approved: true, by: "ops" },
      timerWaitedMs: 60_000,
    });
    // A sub-orchestration without an id is `<parent execution id>:<task id>` (DTFx).
    expect(engine.getInstance(`${state.executionId}:9`)?.runtimeStatus).toBe("Completed");

    // The history tells the same story: ids as durable-facts §4, each completion matching its schedule.
    const scheduled = state.history.filter((e) =>
      [
        HistoryEventType.TaskScheduled,
        HistoryEventType.TimerCreated,
        HistoryEventType.SubOrchestrationInstanceCreated,
      ].includes(e.EventType),
    );
    expect(scheduled.map((e) => [HistoryEventType[e.EventType], e.EventId, e.Name ?? null])).toEqual([
      ["TaskScheduled", 0, "hello"],
      ["TaskScheduled", 1, "hello"],
      ["TaskScheduled", 2, "hello"],
      ["TaskScheduled", 3, "flaky"],
      ["TimerCreated", 4, null],
      ["TaskScheduled", 5, "flaky"],
      ["TimerCreated", 6, null],
      ["TaskScheduled", 7, "flaky"],
      ["TimerCreated", 8, null],
      ["SubOrchestrationInstanceCreated", 9, "child"],
    ]);
    const failures = state.history
      .filter((e) => e.EventType === HistoryEventType.TaskFailed)
      .map((e) => e.TaskScheduledId);
    expect(failures).toEqual([3, 5]);
    const completed = state.history
      .filter((e) => e.EventType === HistoryEventType.TaskCompleted)
      .map((e) => e.TaskScheduledId);
    expect(completed.sort()).toEqual([0, 1, 2, 7]);
    expect(state.history.filter((e) => e.EventType === HistoryEventType.TimerFired).map((e) => e.TimerId)).toEqual([
      4, 6, 8,
    ]);
    // As DTFx writes it: the execution completes, then the episode's OrchestratorCompleted.
    expect(state.history.slice(-2).map((e) => e.EventType)).toEqual([
      HistoryEventType.ExecutionCompleted,
      HistoryEventType.OrchestratorCompleted,
    ]);
  });

  it("fails the instance after the last retry and surfaces the activity's message", async () => {
    harness = await startHarness({ clock: new ManualClock() });
    const { engine } = harness;
    engine.startInstance("retriesExhausted", "exhaust-1", null);
    for (let i = 0; i < 4; i++) await engine.advanceTime(1_000);
    const state = engine.getInstance("exhaust-1")!;
    expect(state.runtimeStatus).toBe("Completed");
    expect(state.output).toEqual({ caught: expect.stringContaining("this activity always fails") });
    expect(state.history.filter((e) => e.EventType === HistoryEventType.TaskFailed)).toHaveLength(3);
    // The library waits for one more retry timer after the last attempt (durable-facts §4).
    expect(state.history.filter((e) => e.EventType === HistoryEventType.TimerCreated)).toHaveLength(3);
  });

  it("fires a retry timer even when the wall clock lags the timer clock", async () => {
    // Node's setTimeout runs on a monotonic clock and can wake before Date.now() reaches the due
    // time. A clock running at 90% speed makes every wake-up early: the timer must sleep again for
    // what remains, not be forgotten until something else happens to wake the engine.
    const origin = Date.now();
    harness = await startHarness({ clock: { now: () => origin + (Date.now() - origin) * 0.9 } });
    const { engine } = harness;
    engine.startInstance("retriesExhausted", "lagging-1", null);
    await until(
      () => (engine.getInstance("lagging-1")?.runtimeStatus === "Completed" ? true : undefined),
      "retries on a lagging clock",
      engine,
      200,
    );
    expect(
      engine.getInstance("lagging-1")!.history.filter((e) => e.EventType === HistoryEventType.TimerFired),
    ).toHaveLength(3);
  });

  it("continues as new with a fresh history", async () => {
    harness = await startHarness();
    const { engine } = harness;
    engine.startInstance("counter", "counter-1", 0);
    await until(
      () => (engine.getInstance("counter-1")?.runtimeStatus === "Completed" ? true : undefined),
      "counter",
      engine,
      200,
    );
    const state = engine.getInstance("counter-1")!;
    expect(state.output).toBe("finished at 3");
    expect(state.input).toBe(3);
    expect(state.history.filter((e) => e.EventType === HistoryEventType.TaskScheduled)).toHaveLength(1);
  });

  it("detects a non-deterministic orchestrator and fails it", async () => {
    harness = await startHarness();
    const { engine } = harness;
    engine.startInstance("nonDeterministic", "nd-1", null);
    await until(
      () => (engine.getInstance("nd-1")?.runtimeStatus === "Failed" ? true : undefined),
      "failure",
      engine,
      200,
    );
    expect(String(engine.getInstance("nd-1")!.output)).toMatch(
      /^Non-Deterministic workflow detected: .*sequence number 0 named 'hello'.*activity task named 'flaky'/,
    );
  });

  it("runs no queued activity after stop", async () => {
    harness = await startHarness({ maxConcurrentActivities: 1 });
    const { engine, counterDir } = harness;
    engine.startInstance("oneGated", "holds-the-slot", { key: "stop-slot", value: "x" });
    engine.startInstance("child", "queued-behind", { n: 7 });
    // The child's activity is queued for the one slot the gated activity holds.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopping = engine.stop();
    releaseGate("stop-slot");
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(deliveries(counterDir, "hello", "child-7")).toBe(0);
  });

  it("resumes a parent whose children all finished while the host was down", async () => {
    harness = await startHarness();
    const { engine, stateDir } = harness;
    engine.startInstance("twoGatedChildren", "parent-of-two", "down");
    // Not `until`: it waits for idle, and the gated activities keep the engine busy.
    while (!(engine.getInstance("parent-of-two:1") && engine.getInstance("parent-of-two:2")))
      await new Promise((resolve) => setTimeout(resolve, 5));
    // The parent's state as a crash would leave it: both children outstanding...
    const parentFile = path.join(
      stateDir,
      "durable",
      "FixtureHub",
      "instances",
      `${encodeURIComponent("parent-of-two")}.jsonl`,
    );
    const beforeCompletions = fs.readFileSync(parentFile);
    releaseGate("down-1");
    releaseGate("down-2");
    await until(
      () => (engine.getInstance("parent-of-two")?.runtimeStatus === "Completed" ? true : undefined),
      "the parent",
      engine,
      200,
    );
    await harness.close();
    // ...while the children's own completions were saved.
    fs.writeFileSync(parentFile, beforeCompletions);
    harness = await startHarness({ stateDir });
    const resumed = harness.engine;
    await until(
      () => (resumed.getInstance("parent-of-two")?.runtimeStatus === "Completed" ? true : undefined),
      "the resumed parent",
      resumed,
      200,
    );
    expect(resumed.getInstance("parent-of-two")!.output).toEqual(["v1", "v2"]);
  });

  it("delivers an activity twice when asked (at-least-once)", async () => {
    harness = await startHarness({ faults: { duplicateActivityDelivery: (name) => name === "hello" } });
    const { engine, counterDir } = harness;
    engine.startInstance("child", "dup-1", { n: 1 });
    await until(
      () => (engine.getInstance("dup-1")?.runtimeStatus === "Completed" ? true : undefined),
      "child",
      engine,
      200,
    );
    expect(deliveries(counterDir, "hello", "child-1")).toBe(2);
    expect(engine.getInstance("dup-1")!.output).toEqual({ n: 2, greeting: "Hello child-1" });
  });

  it("refuses to start an instance id that is still running, and allows it once finished", async () => {
    harness = await startHarness({ clock: new ManualClock() });
    const { engine } = harness;
    engine.startInstance("sample", "busy-1", ["x"]);
    await engine.waitForIdle();
    expect(() => engine.startInstance("sample", "busy-1", ["x"])).toThrow(
      "An Orchestration instance with the status Running already exists.",
    );
    engine.terminate("busy-1", "test");
    expect(engine.startInstance("child", "busy-1", { n: 2 }).runtimeStatus).toBe("Pending");
  });
});
