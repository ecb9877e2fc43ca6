/**
 * Executions: an instance id outlives its executions (continue-as-new, terminate then restart),
 * and task ids start again at 0 in each. Work of an earlier execution must never complete a task
 * of the current one, as the real backend drops messages whose ExecutionId does not match.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/sandbox/state";
import { HistoryEventType } from "../../src/runtime/durable/types";
import { releaseGate, startHarness, until, type Harness } from "./durable-harness";

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("execution ids", () => {
  it("drops the timer of the previous execution after continue-as-new instead of firing task 0 of the new one", async () => {
    const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
    harness = await startHarness({ clock });
    const { engine } = harness;
    engine.startInstance("generations", "gen-1", 0);
    await engine.waitForIdle();
    const firstExecution = engine.getInstance("gen-1")!.executionId;
    engine.raiseEvent("gen-1", "tick", null);
    await until(
      () =>
        engine.getInstance("gen-1")?.input === 1 && engine.getInstance("gen-1")?.runtimeStatus === "Running"
          ? true
          : undefined,
      "second execution",
      engine,
    );
    expect(engine.getInstance("gen-1")!.executionId).not.toBe(firstExecution);

    // The first execution's 60 s timer is now due: it is the old execution's task 0, not the new one's.
    await engine.advanceTime(61_000);
    expect(engine.getInstance("gen-1")!.runtimeStatus).toBe("Running");
    await engine.advanceTime(60_000);
    const state = await until(
      () => (engine.getInstance("gen-1")?.runtimeStatus === "Completed" ? engine.getInstance("gen-1") : undefined),
      "completion",
      engine,
    );
    expect(state.output).toEqual({ generation: 1, waitedMs: 121_000 });
    expect(state.history.filter((event) => event.EventType === HistoryEventType.TimerFired)).toHaveLength(1);
  });

  it("carries an event raised before continue-as-new over to the next execution", async () => {
    harness = await startHarness();
    const { engine } = harness;
    engine.startInstance("eventCarrier", "carry-1", []);
    await engine.waitForIdle();
    // Both arrive before the first is processed: the second belongs to the next execution.
    engine.raiseEvent("carry-1", "item", "a");
    engine.raiseEvent("carry-1", "item", "b");
    const state = await until(
      () => (engine.getInstance("carry-1")?.runtimeStatus === "Completed" ? engine.getInstance("carry-1") : undefined),
      "both items",
      engine,
    );
    expect(state.output).toEqual(["a", "b"]);
  });

  it("drops the activity result of a terminated execution when the id is started again", async () => {
    harness = await startHarness();
    const { engine } = harness;
    // Gated activities keep the engine busy, so wait on the state rather than for idleness.
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    engine.startInstance("oneGated", "again-1", { key: "old-run", value: "OLD" });
    while (engine.getInstance("again-1")!.outstanding.length === 0) await sleep(5);
    expect(engine.terminate("again-1", "replaced")).toBe(true);
    engine.startInstance("oneGated", "again-1", { key: "new-run", value: "NEW" });
    while (engine.getInstance("again-1")!.outstanding.length === 0) await sleep(5);

    releaseGate("old-run"); // the first execution's activity (task 0) finishes now
    await sleep(100);
    expect(engine.getInstance("again-1")!.runtimeStatus).toBe("Running");

    releaseGate("new-run");
    const state = await until(
      () => (engine.getInstance("again-1")?.runtimeStatus === "Completed" ? engine.getInstance("again-1") : undefined),
      "new run",
      engine,
    );
    expect(state.output).toBe("NEW");
  });

  it("names a sub-orchestration without an id after the parent's execution id, as DTFx does", async () => {
    harness = await startHarness();
    const { engine } = harness;
    engine.startInstance("parentOfChild", "parent-1", null);
    const parent = await until(
      () =>
        engine.getInstance("parent-1")?.runtimeStatus === "Completed" ? engine.getInstance("parent-1") : undefined,
      "parent",
      engine,
    );
    expect(parent.output).toEqual({ n: 10, greeting: "Hello child-5" });
    const childId = `${parent.executionId}:0`;
    expect(parent.executionId).toMatch(/^[0-9a-f]{32}$/);
    expect(engine.getInstance(childId)?.parentExecutionId).toBe(parent.executionId);
    const started = engine
      .getInstance(childId)!
      .history.find((event) => event.EventType === HistoryEventType.ExecutionStarted)!;
    expect(started.OrchestrationInstance).toEqual({
      InstanceId: childId,
      ExecutionId: engine.getInstance(childId)!.executionId,
    });
    expect(started.ParentInstance).toMatchObject({
      OrchestrationInstance: { InstanceId: "parent-1", ExecutionId: parent.executionId },
      TaskScheduleId: 0,
    });
  });
});
