/**
 * One error type for the broker (STYLE.md §8): a stable `code`, an HTTP status where one applies,
 * and whether retrying can help. Messages must never contain secret values.
 */
export class BrokerError extends Error {
  readonly code: string;
  readonly statusCode?: number;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(
    code: string,
    message: string,
    options: { statusCode?: number; retryable?: boolean; details?: unknown } = {},
  ) {
    super(message);
    this.name = "BrokerError";
    this.code = code;
    this.statusCode = options.statusCode;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError || (error instanceof Error && error.name === "BrokerError");
}
