/**
 * The local host's instance journal: a save appends only what is new (the file grows by the
 * event, not by the history), a history that starts over rewrites it, a torn last line (a kill
 * mid-append) is dropped, damage elsewhere is refused, and states of the older one-file format load.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { InstanceStore } from "../../src/runtime/durable/store";
import { HistoryEventType, type HistoryEvent, type InstanceState } from "../../src/runtime/durable/types";

const event = (n: number): HistoryEvent => ({
  EventType: HistoryEventType.TaskCompleted,
  EventId: n,
  IsPlayed: false,
  Timestamp: new Date(0).toISOString(),
  Result: JSON.stringify("x".repeat(200)),
});

function state(history: HistoryEvent[], extra: Partial<InstanceState> = {}): InstanceState {
  return {
    instanceId: "wave-1",
    executionId: "e1",
    name: "upgradeWave",
    runtimeStatus: "Running",
    input: { big: "y".repeat(10_000) },
    createdTime: new Date(0).toISOString(),
    lastUpdatedTime: new Date(0).toISOString(),
    history,
    inbox: [],
    nextSequence: 0,
    scheduledIds: [],
    outstanding: [],
    retries: {},
    retryTimers: {},
    ...extra,
  };
}

describe("the instance journal", () => {
  it("appends each save's new events, and loads what was saved", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-store-"));
    const store = new InstanceStore(dir, "Hub");
    const live = state([]);
    store.save(live);
    const first = store.sizeOf("wave-1");
    const growth: number[] = [];
    for (let n = 0; n < 50; n++) {
      const before = store.sizeOf("wave-1");
      live.history.push(event(n));
      live.customStatus = { n };
      store.save(live);
      growth.push(store.sizeOf("wave-1") - before);
    }
    // Every save costs about one event (plus the small fields), never the whole history or the input.
    expect(Math.max(...growth)).toBeLessThan(1_000);
    expect(store.sizeOf("wave-1")).toBeLessThan(first + 50 * 1_000);
    const loaded = new InstanceStore(dir, "Hub").load("wave-1")!;
    expect(loaded.history).toHaveLength(50);
    expect(loaded.customStatus).toEqual({ n: 49 });
    expect(loaded.input).toEqual(live.input);
  });

  it("rewrites the journal when the history starts over (continue-as-new)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-store-"));
    const store = new InstanceStore(dir, "Hub");
    const live = state([event(1), event(2), event(3)]);
    store.save(live);
    live.history.push(event(4));
    store.save(live);
    const next = state([], { executionId: "e2", input: { cursor: 10 } });
    store.save(next);
    expect(
      fs
        .readFileSync(path.join(dir, "durable", "Hub", "instances", "wave-1.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(1);
    expect(new InstanceStore(dir, "Hub").load("wave-1")).toMatchObject({
      executionId: "e2",
      input: { cursor: 10 },
      history: [],
    });
  });

  it("drops a torn last line, refuses damage elsewhere, and loads the older one-file format", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-store-"));
    const store = new InstanceStore(dir, "Hub");
    const live = state([event(1)]);
    store.save(live);
    live.history.push(event(2));
    store.save(live);
    const file = path.join(dir, "durable", "Hub", "instances", "wave-1.jsonl");
    fs.appendFileSync(file, '{"head":{"instanceId":"wave-1","executionId":"e1"');
    expect(new InstanceStore(dir, "Hub").load("wave-1")!.history).toHaveLength(2);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    fs.writeFileSync(file, [lines[0], "{damaged", lines[1], ""].join("\n"));
    expect(() => new InstanceStore(dir, "Hub").load("wave-1")).toThrow(/line 2 is damaged/);

    fs.writeFileSync(
      path.join(dir, "durable", "Hub", "instances", "old-1.json"),
      JSON.stringify(state([event(1)], { instanceId: "old-1" })),
    );
    const reopened = new InstanceStore(dir, "Hub");
    expect(reopened.ids().sort()).toEqual(["old-1", "wave-1"]);
    expect(reopened.load("old-1")!.history).toHaveLength(1);
  });
});
