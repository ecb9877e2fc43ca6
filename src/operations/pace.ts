/**
 * Pacing inside a token bucket (ARM's: reads 250 refilled 25 a second, writes 200 refilled 10 a
 * second, per subscription and region): how long to wait before spending more. Pure: an
 * orchestration calls it with its replayed clock.
 */
export interface TokenBudget {
  burst: number;
  perSecond: number;
}

/** The wait before spending `next` more, given `spent` since the start `elapsedMs` ago. */
export function paceDelayMs(spent: number, elapsedMs: number, next: number, budget: TokenBudget): number {
  const available = budget.burst + (elapsedMs / 1000) * budget.perSecond - spent;
  if (available >= next) return 0;
  return Math.ceil(((next - available) / budget.perSecond) * 1000);
}
