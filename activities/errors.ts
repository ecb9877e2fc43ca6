/**
 * Sorting failures into "retry can help" and "retry cannot help", so the orchestration retries
 * throttling, server errors and replication delays, and fails fast on bad requests.
 */
import { BrokerError, isBrokerError } from "../src/errors";

/** ARM/Graph error codes that are transient although their HTTP status is 4xx. */
const TRANSIENT_CODES = new Set([
  "PrincipalNotFound", // Entra replication delay behind a fresh identity
  "RetryableErrorDueToAnotherOperation",
  "AnotherOperationInProgress",
  "Request_ResourceNotFound", // Graph replication delay right after create
  "ResourceGroupBeingDeleted",
  "Conflict", // generic conflicts during concurrent updates
  "OperationNotAllowed", // e.g. environment still provisioning
]);

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "REQUEST_SEND_ERROR", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED"]);

/** fetch (Graph) reports a dropped connection as `TypeError: fetch failed` with the socket error as its cause. */
function networkCause(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && typeof current === "object" && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

export interface ClassifiedError {
  code: string;
  message: string;
  statusCode?: number;
  retryable: boolean;
}

interface ErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  body?: { error?: { code?: string; message?: string } } | unknown;
}

export function classifyError(error: unknown): ClassifiedError {
  if (isBrokerError(error)) {
    return { code: error.code, message: error.message, statusCode: error.statusCode, retryable: error.retryable };
  }
  const candidate = (typeof error === "object" && error !== null ? error : {}) as ErrorLike;
  const statusCode = typeof candidate.statusCode === "number" ? candidate.statusCode : undefined;
  const code = serviceCode(candidate) ?? candidate.code ?? (statusCode ? `Http${statusCode}` : "UnknownError");
  const message = firstLine(candidate.message ?? String(error));
  // The Graph client reports a transport failure as a GraphError with statusCode -1.
  const retryable =
    statusCode === undefined || statusCode <= 0
      ? Boolean(networkCause(error)) || /fetch failed|socket hang up|other side closed|ECONNRESET/i.test(candidate.message ?? "") || candidate.name === "AbortError" || candidate.name === "FetchError" || (candidate.name === "TypeError" && candidate.message === "fetch failed")
      : statusCode === 408 || statusCode === 429 || statusCode >= 500 || TRANSIENT_CODES.has(code);
  return { code, message, statusCode, retryable };
}

function serviceCode(error: ErrorLike): string | undefined {
  const body = error.body as { error?: { code?: string } } | undefined;
  return typeof body?.error?.code === "string" ? body.error.code : undefined;
}

function firstLine(message: string): string {
  const line = message.split("\n")[0] ?? message;
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}

/** Remove every known secret value from a message before it leaves the activity. */
export function redact(message: string, secrets: Iterable<string>): string {
  let result = message;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) result = result.split(secret).join("[redacted]");
  }
  return result;
}

export function permanent(code: string, message: string, statusCode?: number): BrokerError {
  return new BrokerError(code, message, { statusCode, retryable: false });
}

export function transient(code: string, message: string): BrokerError {
  return new BrokerError(code, message, { retryable: true });
}
