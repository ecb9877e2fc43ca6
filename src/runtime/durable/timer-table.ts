/**
 * The durable engine's pending timers, keyed by instance, execution and task id, so that a timer
 * of an earlier execution can never be mistaken for the same task id of a later one.
 */
export interface DurableTimer {
  instanceId: string;
  executionId: string;
  id: number;
  fireAt: number;
}

interface Entry extends DurableTimer {
  handle?: NodeJS.Timeout;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

export class TimerTable {
  private readonly timers = new Map<string, Entry>();

  /**
   * @param now the engine's clock
   * @param manual a manual clock: timers fire only from `fireDue()` (tests move the clock)
   * @param onDue called with every timer that became due
   */
  constructor(
    private readonly now: () => number,
    private readonly manual: boolean,
    private readonly onDue: (timer: DurableTimer) => void,
  ) {}

  arm(timer: DurableTimer): void {
    const key = `${timer.instanceId}\n${timer.executionId}\n${timer.id}`;
    const entry: Entry = { ...timer };
    this.timers.set(key, entry);
    if (this.manual) {
      if (timer.fireAt <= this.now()) queueMicrotask(() => this.fireDue());
      return;
    }
    this.sleep(key, entry);
  }

  /** Forget every timer of an instance (its execution ended, or it is gone). */
  clear(instanceId: string): void {
    for (const [key, entry] of this.timers) {
      if (entry.instanceId !== instanceId) continue;
      if (entry.handle) clearTimeout(entry.handle);
      this.timers.delete(key);
    }
  }

  clearAll(): void {
    for (const entry of this.timers.values()) if (entry.handle) clearTimeout(entry.handle);
    this.timers.clear();
  }

  /** Fire (and forget) every timer that is due now. */
  fireDue(): void {
    const now = this.now();
    for (const [key, entry] of this.timers) {
      if (entry.fireAt > now) continue;
      if (entry.handle) clearTimeout(entry.handle);
      this.timers.delete(key);
      this.onDue(entry);
    }
  }

  /**
   * Real clock: each timer wakes itself. Node's timers run on a monotonic clock and may wake a
   * millisecond before Date.now() reaches fireAt, and setTimeout caps at ~24.8 days: in both cases
   * the timer sleeps again for what remains, so it can never be left without a wake-up.
   */
  private sleep(key: string, entry: Entry): void {
    const delay = Math.max(0, entry.fireAt - this.now());
    entry.handle = setTimeout(
      () => {
        if (this.timers.get(key) !== entry) return;
        if (entry.fireAt > this.now()) return this.sleep(key, entry);
        this.fireDue();
      },
      Math.min(Math.max(delay, 1), MAX_TIMEOUT),
    );
  }
}
