/**
 * Timer trigger schedules as the WebJobs timer extension reads them (TimerSchedule.Create): an
 * NCRONTAB expression, six fields with seconds (`{second} {minute} {hour} {day} {month}
 * {day-of-week}`) or five without (CronSchedule: any count but 5 includes seconds), evaluated in
 * UTC; or, failing that, a TimeSpan ("00:05:00", "1.00:00:00"), which fires every interval
 * (ConstantSchedule).
 *
 * NCrontab semantics, not Vixie cron's: a time matches only if day-of-month AND day-of-week both
 * match (cron ORs them when both are restricted); fields take `*`, numbers, `a-b`, `a,b`, `* /n`
 * and `a-b/n`; months and days of week take three-letter names; day of week is 0-6 from Sunday.
 */
export interface Schedule {
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
  describe: string;
}

interface FieldSpec {
  min: number;
  max: number;
  names?: string[];
}

const SECONDS: FieldSpec = { min: 0, max: 59 };
const MINUTES: FieldSpec = { min: 0, max: 59 };
const HOURS: FieldSpec = { min: 0, max: 23 };
const DAYS: FieldSpec = { min: 1, max: 31 };
const MONTHS: FieldSpec = {
  min: 1,
  max: 12,
  names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const DAYS_OF_WEEK: FieldSpec = { min: 0, max: 6, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

function parseValue(text: string, spec: FieldSpec, expression: string): number {
  const named = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + spec.min;
  if (!/^\d+$/.test(text)) throw new Error(`'${text}' is not a valid value in NCRONTAB expression '${expression}'.`);
  const value = Number(text);
  if (value < spec.min || value > spec.max)
    throw new Error(`${value} is out of range (${spec.min}-${spec.max}) in NCRONTAB expression '${expression}'.`);
  return value;
}

/** One field to the set of values it allows. */
function parseField(field: string, spec: FieldSpec, expression: string): Set<number> {
  const values = new Set<number>();
  for (const term of field.split(",")) {
    const [range, stepText] = term.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new Error(`'${term}' has an invalid step in NCRONTAB expression '${expression}'.`);
    let low: number;
    let high: number;
    if (range === "*") {
      low = spec.min;
      high = spec.max;
    } else if (range.includes("-")) {
      const [from, to] = range.split("-");
      low = parseValue(from, spec, expression);
      high = parseValue(to, spec, expression);
      if (low > high) throw new Error(`'${term}' is an empty range in NCRONTAB expression '${expression}'.`);
    } else {
      low = parseValue(range, spec, expression);
      // NCrontab: "5/10" means from 5 to the end of the field in steps of 10.
      high = stepText === undefined ? low : spec.max;
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

class CronSchedule implements Schedule {
  private readonly seconds: Set<number>;
  private readonly minutes: Set<number>;
  private readonly hours: Set<number>;
  private readonly days: Set<number>;
  private readonly months: Set<number>;
  private readonly daysOfWeek: Set<number>;

  constructor(readonly describe: string) {
    const fields = describe.trim().split(/\s+/);
    if (fields.length !== 5 && fields.length !== 6)
      throw new Error(`'${describe}' is not a valid NCRONTAB expression: it has ${fields.length} fields.`);
    const withSeconds = fields.length === 6;
    const [second, minute, hour, day, month, dayOfWeek] = withSeconds ? fields : ["0", ...fields];
    this.seconds = parseField(second, SECONDS, describe);
    this.minutes = parseField(minute, MINUTES, describe);
    this.hours = parseField(hour, HOURS, describe);
    this.days = parseField(day, DAYS, describe);
    this.months = parseField(month, MONTHS, describe);
    this.daysOfWeek = parseField(dayOfWeek, DAYS_OF_WEEK, describe);
  }

  next(after: Date): Date {
    // Second resolution: start at the next whole second after `after`.
    let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
    const limit = t + 5 * 366 * 86_400_000; // NCrontab's end-of-time: give up after a few years
    while (t < limit) {
      const date = new Date(t);
      if (!this.months.has(date.getUTCMonth() + 1)) {
        t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
        continue;
      }
      if (!this.days.has(date.getUTCDate()) || !this.daysOfWeek.has(date.getUTCDay())) {
        t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
        continue;
      }
      if (!this.hours.has(date.getUTCHours())) {
        t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1);
        continue;
      }
      if (!this.minutes.has(date.getUTCMinutes())) {
        t = Date.UTC(
          date.getUTCFullYear(),
          date.getUTCMonth(),
          date.getUTCDate(),
          date.getUTCHours(),
          date.getUTCMinutes() + 1,
        );
        continue;
      }
      if (!this.seconds.has(date.getUTCSeconds())) {
        t += 1000;
        continue;
      }
      return date;
    }
    throw new Error(`NCRONTAB expression '${this.describe}' has no occurrence after ${after.toISOString()}.`);
  }
}

/** .NET TimeSpan.TryParse's common forms: [d.]hh:mm[:ss[.fffffff]] or a whole number of days. */
function parseTimeSpan(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 86_400_000;
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$/.exec(trimmed);
  if (!match) return undefined;
  const [, days, hours, minutes, seconds, fraction] = match;
  if (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds ?? 0) > 59) return undefined;
  const ms =
    (((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds ?? 0)) * 1000 +
    Math.round(Number(`0.${fraction ?? 0}`) * 1000);
  return ms;
}

class ConstantSchedule implements Schedule {
  constructor(
    readonly describe: string,
    private readonly intervalMs: number,
  ) {}

  next(after: Date): Date {
    return new Date(after.getTime() + this.intervalMs);
  }
}

export function parseSchedule(expression: string): Schedule {
  try {
    return new CronSchedule(expression);
  } catch (cronError) {
    const interval = parseTimeSpan(expression);
    if (interval !== undefined && interval > 0) return new ConstantSchedule(expression, interval);
    const detail = (cronError as Error).message;
    throw new Error(
      `The schedule expression '${expression}' was not recognized as a valid cron expression or timespan string. (${detail})`,
    );
  }
}
