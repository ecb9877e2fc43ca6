/**
 * Reads the API makes itself (the dry run, teardown's safety check) retry what the activities'
 * steps retry: throttling (honouring Retry-After), 5xx and dropped connections, with the same
 * classification (activities/errors.ts). A few quick attempts: a caller is waiting.
 */
import { classifyError } from "../../activities/errors";

export interface ReadRetryOptions {
  attempts?: number;
  firstDelayMs?: number;
  /** Longest wait a Retry-After may impose before the read gives up on it. */
  maxDelayMs?: number;
}

export async function readWithRetry<T>(read: () => Promise<T>, options: ReadRetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const first = options.firstDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const classified = classifyError(error);
      if (!classified.retryable || classified.retryClass !== "transient" || attempt >= attempts) throw error;
      const backoff = Math.min(first * 2 ** (attempt - 1), max);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(Math.max(backoff, classified.retryAfterMs ?? 0), max)),
      );
    }
  }
}
