/**
 * Replay faithfulness: what an orchestrator sees and what the instance records when activities
 * return nothing, when identical calls are made again, when an orchestrator throws, when a
 * replay is non-deterministic, and when a terminate or purge lands while a replay is running.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/sandbox/state";
import { HistoryEventType, type InstanceState } from "../../src/runtime/durable/types";
import { releaseGate, startHarness, until, type Harness } from "./durable-harness";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function finished(harnessEngine: Harness["engine"], id: string): Promise<InstanceState> {
  return until(
    () => {
      const state = harnessEngine.getInstance(id);
      return state && ["Completed", "Failed", "Terminated"].includes(state.runtimeStatus) ? state : undefined;
    },
    `${id} to finish`,
    harnessEngine,
  );
}

function scheduled(state: InstanceState): [number, string | undefined, string | undefined][] {
  return state.history
    .filter((event) => event.EventType === HistoryEventType.TaskScheduled)
    .map((event) => [event.EventId, event.Name, event.Input]);
}

describe("activity results", () => {
  it("gives the orchestrator null for an activity that returns nothing", async () => {
    harness = await startHarness();
    harness.engine.startInstance("voidCaller", "void-1", null);
    const state = await finished(harness.engine, "void-1");
    expect(state.runtimeStatus).toBe("Completed");
    expect(state.output).toEqual({ result: null });
    expect(state.history.find((event) => event.EventType === HistoryEventType.TaskCompleted)?.Result).toBe("null");
  });

  it("passes a durableClient input to an activity", async () => {
    harness = await startHarness();
    harness.engine.startInstance("asksAboutItself", "self-1", null);
    const state = await finished(harness.engine, "self-1");
    expect(state.output).toBe("Running");
  });
});

describe("task identity", () => {
  it("schedules a new call identical to an earlier one inside a later Task.all as its own task", async () => {
    harness = await startHarness();
    harness.engine.startInstance("sameCallTwice", "twice-1", null);
    const state = await finished(harness.engine, "twice-1");
    expect(state.output).toEqual({ first: "Hello twin", both: ["Hello twin", "Hello other"] });
    expect(scheduled(state)).toEqual([
      [0, "hello", '"twin"'],
      [1, "hello", '"twin"'],
      [2, "hello", '"other"'],
    ]);
  });

  it("lets a fresh identical call win a Task.any against a timer (the polling pattern)", async () => {
    harness = await startHarness({ clock: new ManualClock(Date.parse("2026-01-01T00:00:00Z")) });
    harness.engine.startInstance("pollAgain", "poll-1", null);
    const state = await finished(harness.engine, "poll-1");
    expect(state.output).toEqual({ first: "Hello poll", won: "activity" });
  });

  it("keeps the id of a task yielded again inside a later Task.all", async () => {
    harness = await startHarness();
    harness.engine.startInstance("reyield", "again-1", null);
    const state = await finished(harness.engine, "again-1");
    expect(state.output).toEqual({ alone: "Hello kept", together: ["Hello kept", "Hello added"] });
    expect(scheduled(state).map(([id, , input]) => [id, input])).toEqual([
      [0, '"kept"'],
      [1, '"added"'],
    ]);
  });
});

describe("failures", () => {
  it("reports an orchestrator's exception as the extension does: `Orchestrator function '<name>' failed: <error>`", async () => {
    harness = await startHarness();
    harness.engine.startInstance("thrower", "throw-1", null);
    const state = await finished(harness.engine, "throw-1");
    expect(state.runtimeStatus).toBe("Failed");
    expect(state.output).toBe("Orchestrator function 'thrower' failed: boom in orchestrator");
    const last = state.history.at(-1)!;
    expect([HistoryEventType[last.EventType], last.OrchestrationStatus, last.Result]).toEqual([
      "ExecutionCompleted",
      "Failed",
      state.output,
    ]);

    harness.engine.startInstance("parentOfThrower", "throw-parent-1", null);
    const parent = await finished(harness.engine, "throw-parent-1");
    expect(parent.output).toEqual({ caught: "Orchestrator function 'thrower' failed: boom in orchestrator" });
  });

  it("fails a non-deterministic replay with DTFx's message, checked against the scheduled history", async () => {
    harness = await startHarness();
    harness.engine.startInstance("nonDeterministic", "nd-2", null);
    const state = await finished(harness.engine, "nd-2");
    expect(state.runtimeStatus).toBe("Failed");
    expect(state.output).toBe(
      "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task with sequence number 0 named 'hello', but the current orchestration replay instead scheduled an activity task named 'flaky' with this sequence number.  Was a change made to the orchestrator code after this instance had already started running?",
    );
  });
});

describe("a replay overtaken by the client", () => {
  it("does not overwrite a terminate that happened while app hooks held the replay", async () => {
    harness = await startHarness();
    const { engine } = harness;
    engine.startInstance("heldByHook", "held-1", null);
    await new Promise((resolve) => setTimeout(resolve, 30)); // the first replay is now waiting in the preInvocation hook
    expect(engine.terminate("held-1", "stop now")).toBe(true);
    releaseGate("hook:held-1");
    await engine.waitForIdle();
    const state = engine.getInstance("held-1")!;
    expect(state.runtimeStatus).toBe("Terminated");
    expect(state.output).toBe("stop now");
    expect(state.history.map((event) => HistoryEventType[event.EventType])).toEqual([
      "ExecutionTerminated",
      "ExecutionCompleted",
    ]);
    expect(state.history.some((event) => event.EventType === HistoryEventType.TaskScheduled)).toBe(false);
  });

  it("does not bring back an instance purged while its replay was running", async () => {
    harness = await startHarness();
    const { engine, stateDir } = harness;
    engine.startInstance("heldByHook", "held-2", null);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(engine.purge("held-2")).toBe(true);
    releaseGate("hook:held-2");
    await engine.waitForIdle();
    expect(engine.getInstance("held-2")).toBeUndefined();
    const files = fs.readdirSync(path.join(stateDir, "durable", "FixtureHub", "instances"));
    expect(files.filter((file) => file.startsWith("held-2"))).toEqual([]);
  });
});
