/**
 * Registering an activity: every failure the activity can classify comes back as an
 * `ActivityFailure` value saying whether and how to retry (the walker decides), and every message
 * is scrubbed of the secret values the activity touched. Only what nobody could classify (a host
 * failure) reaches the orchestration as a thrown TaskFailed.
 */
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import type { ActivityFailure, ActivityInput, ActivityResult } from "./contract";
import { classifyError, redact } from "./errors";

/** Secret values an activity handled, so error messages can be scrubbed of them. */
export class SecretScope {
  private readonly values = new Set<string>();
  add<T extends string | undefined>(value: T): T {
    if (value) this.values.add(value);
    return value;
  }
  scrub(message: string): string {
    return redact(message, this.values);
  }
}

export type ActivityHandler<TDesired> = (
  input: ActivityInput<TDesired>,
  secrets: SecretScope,
) => Promise<ActivityResult>;

/** Run a handler with the failure policy above. Exposed for tests that call activities directly. */
export async function runActivity<TDesired>(
  handler: ActivityHandler<TDesired>,
  input: ActivityInput<TDesired>,
  log?: (message: string) => void,
): Promise<ActivityResult | ActivityFailure> {
  const secrets = new SecretScope();
  try {
    return await handler(input, secrets);
  } catch (error) {
    const classified = classifyError(error);
    const message = secrets.scrub(classified.message);
    log?.(
      `${input.nodeId}${input.attempt && input.attempt > 1 ? ` (attempt ${input.attempt})` : ""}: ${classified.code}: ${message}`,
    );
    return {
      nodeId: input.nodeId,
      failed: true,
      code: classified.code,
      message,
      ...(classified.retryable ? { retryable: true, retryClass: classified.retryClass ?? "transient" } : {}),
      ...(classified.retryAfterMs !== undefined ? { retryAfterMs: classified.retryAfterMs } : {}),
    };
  }
}

/** `df.app.activity` with the failure policy; the handler is built lazily from deps. */
export function registerActivity<TDesired>(name: string, handler: () => ActivityHandler<TDesired>): void {
  df.app.activity(name, {
    handler: (input: unknown, context: InvocationContext) =>
      runActivity(handler(), input as ActivityInput<TDesired>, (message) => context.warn(message)),
  });
}
