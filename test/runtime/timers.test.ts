/** Timer schedules as the WebJobs timer extension reads them, and the scheduler's firing. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseSchedule } from "../../src/runtime/ncrontab";
import { nextOccurrences, TimerScheduler } from "../../src/runtime/timers";
import type { RpcTypedData } from "../../src/runtime/worker/core-api";

const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

afterEach(() => {
  vi.useRealTimers();
});

describe("NCRONTAB and TimeSpan schedules", () => {
  it("computes the real next occurrences in UTC", () => {
    expect(iso(nextOccurrences("0 30 9 * * 1-5", new Date("2026-11-27T10:00:00Z"), 3))).toEqual([
      "2026-11-30T09:30:00.000Z",
      "2026-12-01T09:30:00.000Z",
      "2026-12-02T09:30:00.000Z",
    ]);
    expect(iso(nextOccurrences("*/20 * * * * *", new Date("2026-01-01T00:00:05.500Z"), 3))).toEqual([
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
    expect(iso(nextOccurrences("0 0 12 1 Jan,Jul *", new Date("2026-03-01T00:00:00Z"), 2))).toEqual([
      "2026-07-01T12:00:00.000Z",
      "2027-01-01T12:00:00.000Z",
    ]);
  });

  it("accepts five fields (minute resolution), as CronSchedule does for exactly five", () => {
    expect(iso(nextOccurrences("*/15 * * * *", new Date("2026-01-01T00:07:00Z"), 2))).toEqual([
      "2026-01-01T00:15:00.000Z",
      "2026-01-01T00:30:00.000Z",
    ]);
    expect(iso(nextOccurrences("0 3 * * Sun", new Date("2026-01-01T00:00:00Z"), 1))).toEqual([
      "2026-01-04T03:00:00.000Z",
    ]);
  });

  it("requires day-of-month AND day-of-week to match (NCrontab), not either", () => {
    // Friday the 13th only: cron would also fire on every Friday and every 13th.
    expect(iso(nextOccurrences("0 0 0 13 * 5", new Date("2026-01-01T00:00:00Z"), 3))).toEqual([
      "2026-02-13T00:00:00.000Z",
      "2026-03-13T00:00:00.000Z",
      "2026-11-13T00:00:00.000Z",
    ]);
  });

  it("reads a TimeSpan as a constant interval", () => {
    expect(iso(nextOccurrences("00:05:00", new Date("2026-01-01T00:00:10Z"), 2))).toEqual([
      "2026-01-01T00:05:10.000Z",
      "2026-01-01T00:10:10.000Z",
    ]);
    expect(iso(nextOccurrences("1.00:00:00", new Date("2026-01-01T00:00:00Z"), 1))).toEqual([
      "2026-01-02T00:00:00.000Z",
    ]);
  });

  it("rejects what the host rejects", () => {
    for (const bad of ["* * * *", "0 0 0 * * 7", "0 61 * * * *", "every minute", "0 0 0 L * *"]) {
      expect(() => parseSchedule(bad), bad).toThrow(/was not recognized as a valid cron expression or timespan string/);
    }
  });
});

describe("the scheduler", () => {
  function scheduler(
    schedule: string,
    fired: { at: number; data: Record<string, unknown> }[],
    extra: Partial<ConstructorParameters<typeof TimerScheduler>[0]> = {},
  ) {
    return new TimerScheduler({
      functionName: "t",
      schedule,
      invoke: async (data: RpcTypedData) => {
        fired.push({ at: Date.now(), data: JSON.parse(data.json!) as Record<string, unknown> });
      },
      log: () => {},
      ...extra,
    });
  }

  it("sleeps again when the next occurrence is further away than setTimeout can wait", async () => {
    vi.useFakeTimers({ now: new Date("2026-01-02T00:00:00Z") });
    const fired: { at: number; data: Record<string, unknown> }[] = [];
    const timer = scheduler("0 0 0 1 Jan *", fired); // next: 2027-01-01, ~364 days away
    timer.start();
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1 + 1000);
    expect(fired).toHaveLength(0);
    await vi.advanceTimersToNextTimerAsync();
    for (let i = 0; i < 20 && fired.length === 0; i++) await vi.advanceTimersToNextTimerAsync();
    timer.stop();
    expect(fired.map((fire) => new Date(fire.at).toISOString())).toEqual(["2027-01-01T00:00:00.000Z"]);
  });

  it("fires once per occurrence even when woken a little early", async () => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00.500Z") });
    const fired: { at: number; data: Record<string, unknown> }[] = [];
    // A clock 2 ms behind the timers: every wake-up lands just before the occurrence.
    const timer = scheduler("* * * * * *", fired, { now: () => Date.now() - 2 });
    timer.start();
    await vi.advanceTimersByTimeAsync(5_000);
    timer.stop();
    const seconds = fired.map((fire) => Math.round((fire.at - 2) / 1000));
    expect(seconds.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seconds).size).toBe(seconds.length);
  });

  it("fires once at start-up with IsPastDue when an occurrence was missed while the host was down", async () => {
    const statusDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-timer-status-"));
    vi.useFakeTimers({ now: new Date("2026-01-01T10:02:00Z") });
    const first: { at: number; data: Record<string, unknown> }[] = [];
    const before = scheduler("0 */5 * * * *", first, { statusDir });
    before.start();
    before.stop(); // down before 10:05

    vi.setSystemTime(new Date("2026-01-01T10:17:30Z"));
    const fired: { at: number; data: Record<string, unknown> }[] = [];
    const after = scheduler("0 */5 * * * *", fired, { statusDir });
    after.start();
    await vi.advanceTimersByTimeAsync(10);
    after.stop();
    expect(fired).toHaveLength(1);
    expect(fired[0].data).toMatchObject({ IsPastDue: true, ScheduleStatus: { Next: "2026-01-01T10:05:00.000Z" } });
  });
});
