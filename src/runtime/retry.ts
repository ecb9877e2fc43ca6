/**
 * Function-level retry policies (`retry: { strategy, maxRetryCount, ... }` on app.timer), which
 * the Functions host applies to timer triggers: the invocation is repeated after a fixed or
 * exponentially growing delay, up to maxRetryCount times (-1: forever), and each attempt sees
 * `context.retryContext` ({ retryCount, maxRetryCount, exception }).
 */
export interface FunctionRetryOptions {
  retryStrategy?: string;
  strategy?: string;
  maxRetryCount: number;
  delayInterval?: { seconds?: number | string };
  minimumInterval?: { seconds?: number | string };
  maximumInterval?: { seconds?: number | string };
}

export interface RpcRetryContext {
  retryCount: number;
  maxRetryCount: number;
  exception?: { message: string; stackTrace?: string; source?: string };
}

function seconds(duration: { seconds?: number | string } | undefined): number {
  return Number(duration?.seconds ?? 0) * 1000;
}

/** The delay before retry number `retry` (1-based). */
export function retryDelay(options: FunctionRetryOptions, retry: number): number {
  const strategy = (options.retryStrategy ?? options.strategy ?? "").toLowerCase();
  if (strategy === "exponentialbackoff") {
    const delay = seconds(options.minimumInterval) * 2 ** (retry - 1);
    const cap = seconds(options.maximumInterval);
    return cap > 0 ? Math.min(delay, cap) : delay;
  }
  return seconds(options.delayInterval);
}

export async function invokeWithRetries(
  options: FunctionRetryOptions | undefined,
  attempt: (retryContext: RpcRetryContext | undefined) => Promise<void>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  isStopped: () => boolean = () => false,
): Promise<void> {
  if (!options) return attempt(undefined);
  let context: RpcRetryContext = { retryCount: 0, maxRetryCount: options.maxRetryCount };
  for (let retry = 0; ; retry++) {
    try {
      return await attempt(context);
    } catch (error) {
      const exhausted = options.maxRetryCount !== -1 && retry >= options.maxRetryCount;
      if (exhausted || isStopped()) throw error;
      await sleep(retryDelay(options, retry + 1));
      const cause = error as Error;
      context = {
        retryCount: retry + 1,
        maxRetryCount: options.maxRetryCount,
        exception: { message: cause.message, stackTrace: cause.stack, source: "" },
      };
    }
  }
}
