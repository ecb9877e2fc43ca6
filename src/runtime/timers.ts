/**
 * Timer triggers as the WebJobs TimerListener runs them: the schedule (ncrontab.ts) is evaluated
 * in UTC; each occurrence invokes the function with TimerInfo (schedule status + IsPastDue);
 * the schedule status is kept (the host's schedule monitor keeps it in storage, we keep it under
 * the state dir), so a host that was down when an occurrence was due fires once at start-up
 * with IsPastDue = true. runOnStartup fires at start, and `POST /admin/functions/<name>` or
 * `host.triggerTimer()` fires one now.
 */
import fs from "node:fs";
import path from "node:path";
import type { RpcTypedData } from "./worker/core-api";
import { parseSchedule, type Schedule } from "./ncrontab";

export interface TimerOptions {
  functionName: string;
  schedule: string;
  runOnStartup?: boolean;
  /** Keep the schedule status here (one JSON file per function); without it, no past-due detection. */
  statusDir?: string;
  invoke(triggerData: RpcTypedData): Promise<void>;
  log(level: string, message: string): void;
  now?: () => number;
}

interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

/** DateTime's default, which the listener reports as Last before anything ran. */
const NEVER = "0001-01-01T00:00:00";
const MAX_TIMEOUT = 2 ** 31 - 1;

/** The next `count` occurrences of a schedule after `from`. */
export function nextOccurrences(schedule: string, from: Date, count: number): Date[] {
  const parsed = parseSchedule(schedule);
  const dates: Date[] = [];
  let at = from;
  for (let i = 0; i < count; i++) {
    at = parsed.next(at);
    dates.push(at);
  }
  return dates;
}

export class TimerScheduler {
  private handle?: NodeJS.Timeout;
  private stopped = false;
  private readonly schedule: Schedule;
  private status?: ScheduleStatus;

  constructor(private readonly options: TimerOptions) {
    this.schedule = parseSchedule(options.schedule); // validate at start-up, as the host does
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private get statusFile(): string | undefined {
    return this.options.statusDir
      ? path.join(this.options.statusDir, `${encodeURIComponent(this.options.functionName)}.json`)
      : undefined;
  }

  start(): void {
    const now = new Date(this.now());
    this.status = this.loadStatus();
    const pastDue = this.status && Date.parse(this.status.Next) < now.getTime() && this.status.Next !== NEVER;
    if (!this.status)
      this.status = { Last: NEVER, Next: this.schedule.next(now).toISOString(), LastUpdated: now.toISOString() };
    this.saveStatus();
    if (pastDue) {
      this.options.log(
        "information",
        `Timer function '${this.options.functionName}' is past due (it was due ${this.status.Next}).`,
      );
      void this.fire({ isPastDue: true });
    } else if (this.options.runOnStartup) {
      void this.fire({ runOnStartup: true });
    }
    this.arm(this.schedule.next(now));
  }

  stop(): void {
    this.stopped = true;
    if (this.handle) clearTimeout(this.handle);
  }

  /** Run the function now, as `POST /admin/functions/<name>` does. */
  fireNow(): Promise<void> {
    return this.fire({ runOnStartup: true });
  }

  /**
   * Sleep until `occurrence`. setTimeout caps at ~24.8 days and may wake a little early: either
   * way the timer sleeps again for what remains, and the next occurrence is computed from the
   * scheduled one, never from a clock that is still short of it (no double fire in one second).
   */
  private arm(occurrence: Date): void {
    if (this.stopped) return;
    const delay = occurrence.getTime() - this.now();
    this.handle = setTimeout(
      () => {
        if (this.stopped) return;
        if (occurrence.getTime() > this.now()) return this.arm(occurrence);
        void this.fire({ scheduled: occurrence }).finally(() =>
          this.arm(this.schedule.next(new Date(Math.max(this.now(), occurrence.getTime())))),
        );
      },
      Math.min(Math.max(delay, 0), MAX_TIMEOUT),
    );
  }

  private async fire(how: { isPastDue?: boolean; runOnStartup?: boolean; scheduled?: Date }): Promise<void> {
    const invokedAt = new Date(this.now());
    const status = this.status ?? {
      Last: NEVER,
      Next: this.schedule.next(invokedAt).toISOString(),
      LastUpdated: invokedAt.toISOString(),
    };
    const timer = { Schedule: { AdjustForDST: true }, ScheduleStatus: status, IsPastDue: how.isPastDue === true };
    try {
      await this.options.invoke({ json: JSON.stringify(timer) });
    } catch (error) {
      this.options.log("error", `Timer function '${this.options.functionName}' failed: ${(error as Error).message}`);
    }
    // TimerListener.InvokeJobFunction: a scheduled run that fired early counts from its scheduled time.
    const adjusted = how.scheduled && how.scheduled > invokedAt ? how.scheduled : invokedAt;
    this.status = {
      Last: adjusted.toISOString(),
      Next: this.schedule.next(adjusted).toISOString(),
      LastUpdated: adjusted.toISOString(),
    };
    this.saveStatus();
  }

  private loadStatus(): ScheduleStatus | undefined {
    const file = this.statusFile;
    if (!file || !fs.existsSync(file)) return undefined;
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as ScheduleStatus;
    } catch {
      return undefined;
    }
  }

  private saveStatus(): void {
    const file = this.statusFile;
    if (!file || !this.status) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(this.status));
    fs.renameSync(temp, file);
  }
}
