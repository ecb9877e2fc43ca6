/**
 * Timer triggers on NCRONTAB schedules (six fields, seconds first, UTC), as the Functions host
 * runs them, plus firing on demand for tests and operators.
 */
import { CronExpressionParser } from "cron-parser";
import type { RpcTypedData } from "./worker/core-api";

export interface TimerOptions {
  functionName: string;
  schedule: string;
  runOnStartup?: boolean;
  invoke(triggerData: RpcTypedData): Promise<void>;
  log(level: string, message: string): void;
  now?: () => number;
}

/** The next `count` occurrences of an NCRONTAB expression after `from` (UTC). */
export function nextOccurrences(schedule: string, from: Date, count: number): Date[] {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6) throw new Error(`NCRONTAB '${schedule}' must have six fields (second minute hour day month day-of-week).`);
  const expression = CronExpressionParser.parse(schedule, { currentDate: from, tz: "UTC" });
  return Array.from({ length: count }, () => expression.next().toDate());
}

export class TimerScheduler {
  private handle?: NodeJS.Timeout;
  private last?: Date;
  private stopped = false;

  constructor(private readonly options: TimerOptions) {
    nextOccurrences(options.schedule, new Date(), 1); // validate at start-up, as the host does
  }

  start(): void {
    if (this.options.runOnStartup) void this.fire(false);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.handle) clearTimeout(this.handle);
  }

  /** Run the function now, as `POST /admin/functions/<name>` does. */
  fireNow(): Promise<void> {
    return this.fire(false);
  }

  private arm(): void {
    if (this.stopped) return;
    const now = this.options.now?.() ?? Date.now();
    const [next] = nextOccurrences(this.options.schedule, new Date(now), 1);
    this.handle = setTimeout(() => {
      void this.fire(false).finally(() => this.arm());
    }, Math.min(Math.max(0, next.getTime() - now), 2 ** 31 - 1));
  }

  private async fire(isPastDue: boolean): Promise<void> {
    const now = new Date(this.options.now?.() ?? Date.now());
    const [next] = nextOccurrences(this.options.schedule, now, 1);
    const timer = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: { Last: (this.last ?? now).toISOString(), Next: next.toISOString(), LastUpdated: now.toISOString() },
      IsPastDue: isPastDue,
    };
    this.last = now;
    try {
      await this.options.invoke({ json: JSON.stringify(timer) });
    } catch (error) {
      this.options.log("error", `Timer function '${this.options.functionName}' failed: ${(error as Error).message}`);
    }
  }
}
