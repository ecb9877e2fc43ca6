/**
 * Sorting failures into "retry can help" and "retry cannot help", so the orchestration retries
 * throttling, server errors, busy resources and propagation delays, and fails fast on bad
 * requests. Two kinds of retryable failure are told apart because they need different patience:
 *
 * - transient: throttling (429, honouring Retry-After), 5xx, dropped connections, a resource busy
 *   with another operation. A few minutes of backoff is enough.
 * - propagation: Entra replication (a principal ARM cannot see yet, a Graph object not visible
 *   yet) and RBAC propagation (a role assigned moments ago that the Key Vault or blob data plane
 *   does not honour yet: Azure documents up to ten minutes). These get a longer retry budget.
 */
import { BrokerError, isBrokerError } from "../src/errors";

/** ARM/Graph error codes that are transient although their HTTP status is 4xx. */
const TRANSIENT_CODES = new Set([
  "RetryableErrorDueToAnotherOperation",
  "AnotherOperationInProgress",
  "OperationInProgress",
  "ResourceGroupBeingDeleted",
  "Conflict", // generic conflicts during concurrent updates (not Key Vault's deleted-object conflicts: see below)
  "OperationNotAllowed", // e.g. environment still provisioning
  "ContainerAppOperationInProgress",
  "ContainerAppLockConflict",
  "ManagedEnvironmentOperationInProgress",
  "ManagedEnvironmentLockConflict",
  "StorageAccountIsNotProvisioned",
  "StorageAccountOperationInProgress",
  "ManagedEnvironmentNotProvisioned",
  "ManagedEnvironmentNotReadyForAppCreation",
  "ProvisioningFailed", // Shire's own: a write whose resource ended Failed; writing again may succeed
]);

/** LRO failure codes worth another write (the operation failed inside Azure, not on our input). */
const TRANSIENT_LRO_CODES = new Set([
  "InternalServerError",
  "InternalError",
  "ServiceUnavailable",
  "GatewayTimeout",
  "OperationTimedOut",
  "Timeout",
  "TooManyRequests",
  "Conflict",
  "RetryableError",
]);

/** Codes that mean "not visible / not effective yet": replication and RBAC propagation. */
const PROPAGATION_CODES = new Set([
  "PrincipalNotFound", // Entra replication delay behind a fresh identity (ARM role assignments)
  "Request_ResourceNotFound", // Graph replication delay right after create
  "GraphReplicationDelay", // Shire's own, after in-activity retries (activities/entra.ts)
  "ForbiddenByRbac", // Key Vault data plane before a new role assignment takes effect
  "AuthorizationPermissionMismatch", // blob data plane, likewise
  "RoleAssignmentPropagation", // Shire's own
  // Shire's own: a resource still provisioning or a revision still starting (activities/provisioning.ts).
  // Environments and first revisions (image pull, plugin install, start-up probe) take minutes.
  "ResourceNotReady",
  // A container app whose identity was granted vault access moments ago: Key Vault references
  // fail provisioning until the role assignment takes effect.
  "ContainerAppSecretKeyVaultUrlInvalid",
]);

/**
 * Container Apps refuses an app whose identity cannot read its Key Vault references or pull its
 * image yet (the role was granted moments ago) with a generic 400 that only its message tells
 * apart: "... Unable to get value using Managed identity ..." / "... UNAUTHORIZED: authentication
 * required ..." (azure-container-apps #1159, #722, #1174).
 */
function waitingOnAccess(code: string, message: string): boolean {
  return (
    code === "InvalidParameterValueInContainerTemplate" &&
    /Unable to get value using Managed identity|UNAUTHORIZED|unable to fetch secret/i.test(message)
  );
}

/** Key Vault conflicts about a deleted object: waiting does not clear them, recovering does. */
const DELETED_OBJECT_CODES = new Set(["ObjectIsDeletedButRecoverable", "ObjectIsBeingDeleted"]);

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "REQUEST_SEND_ERROR",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/** The longest Retry-After Shire waits out; beyond it the normal backoff applies. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** fetch (Graph) reports a dropped connection as `TypeError: fetch failed` with the socket error as its cause. */
function networkCause(error: unknown): string | undefined {
  for (
    let current = error, depth = 0;
    current && typeof current === "object" && depth < 4;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

export type RetryClass = "transient" | "propagation";

export interface ClassifiedError {
  code: string;
  message: string;
  statusCode?: number;
  retryable: boolean;
  /** Set when retryable. */
  retryClass?: RetryClass;
  /** What the service asked for (Retry-After), when it did. */
  retryAfterMs?: number;
}

interface HeaderBag {
  get?(name: string): string | null | undefined;
  [name: string]: unknown;
}

interface ErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  body?: unknown;
  headers?: HeaderBag;
  response?: { headers?: HeaderBag; status?: number; bodyAsText?: string | null };
  details?: unknown;
}

export function classifyError(error: unknown): ClassifiedError {
  if (isBrokerError(error)) {
    const retryClass = error.retryable ? (PROPAGATION_CODES.has(error.code) ? "propagation" : "transient") : undefined;
    return {
      code: error.code,
      message: error.message,
      statusCode: error.statusCode,
      retryable: error.retryable,
      ...(retryClass ? { retryClass } : {}),
    };
  }
  const lro = lroFailure(error);
  if (lro) {
    const retryClass: RetryClass | undefined =
      PROPAGATION_CODES.has(lro.code) || waitingOnAccess(lro.code, lro.message)
        ? "propagation"
        : TRANSIENT_LRO_CODES.has(lro.code) || TRANSIENT_CODES.has(lro.code)
          ? "transient"
          : undefined;
    return {
      code: lro.code,
      message: lro.message,
      retryable: retryClass !== undefined,
      ...(retryClass ? { retryClass } : {}),
    };
  }
  const candidate = (typeof error === "object" && error !== null ? error : {}) as ErrorLike;
  const statusCode = typeof candidate.statusCode === "number" ? candidate.statusCode : undefined;
  const { code: serviceErrorCode, innerCode } = serviceCodes(candidate);
  // Key Vault answers `Forbidden` / `Conflict` with the specific reason in `innererror.code`.
  const code =
    innerCode && (PROPAGATION_CODES.has(innerCode) || DELETED_OBJECT_CODES.has(innerCode))
      ? innerCode
      : (serviceErrorCode ?? candidate.code ?? (statusCode ? `Http${statusCode}` : "UnknownError"));
  const message = firstLine(candidate.message ?? String(error));
  let retryClass: RetryClass | undefined;
  if (statusCode === undefined || statusCode <= 0) {
    // The Graph client reports a transport failure as a GraphError with statusCode -1.
    const network =
      Boolean(networkCause(error)) ||
      /fetch failed|socket hang up|other side closed|ECONNRESET/i.test(candidate.message ?? "") ||
      candidate.name === "AbortError" ||
      candidate.name === "FetchError" ||
      (candidate.name === "TypeError" && candidate.message === "fetch failed");
    if (network) retryClass = "transient";
  } else if (PROPAGATION_CODES.has(code) || waitingOnAccess(code, message)) {
    retryClass = "propagation";
  } else if (DELETED_OBJECT_CODES.has(code)) {
    retryClass = undefined;
  } else if (statusCode === 408 || statusCode === 429 || statusCode >= 500 || TRANSIENT_CODES.has(code)) {
    retryClass = "transient";
  }
  const retryAfterMs = retryClass ? retryAfterOf(candidate) : undefined;
  return {
    code,
    message,
    statusCode,
    retryable: retryClass !== undefined,
    ...(retryClass ? { retryClass } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/**
 * The SDKs' long-running-operation engine (core-lro) reports a Failed operation as a plain Error
 * "The long-running operation has failed. <code>. <message>": recover the service's code.
 */
function lroFailure(error: unknown): { code: string; message: string } | undefined {
  if (!(error instanceof Error) || (error as ErrorLike).statusCode !== undefined) return undefined;
  const match = /^The long-running operation has failed(?:\. ([A-Za-z][\w.]*)\. ([\s\S]*))?$/.exec(error.message);
  if (!match) return undefined;
  return { code: match[1] ?? "LongRunningOperationFailed", message: firstLine(match[2] ?? error.message) };
}

/** The error code the service put in its body (ARM, Key Vault, Graph all use `{error: {code, innererror}}`). */
function serviceCodes(error: ErrorLike): { code?: string; innerCode?: string } {
  const bodies = [error.body, error.details, error.response?.bodyAsText];
  for (const body of bodies) {
    const parsed = typeof body === "string" ? safeParse(body) : body;
    const inner = (
      parsed as
        { error?: { code?: unknown; innererror?: { code?: unknown }; innerError?: { code?: unknown } } } | undefined
    )?.error;
    if (inner && typeof inner.code === "string") {
      const innerCode = inner.innererror?.code ?? inner.innerError?.code;
      return { code: inner.code, innerCode: typeof innerCode === "string" ? innerCode : undefined };
    }
  }
  // Storage answers a HEAD without a body: its code is only in x-ms-error-code (the SDK's details.errorCode).
  const headerCode = (error.details as { errorCode?: unknown } | undefined)?.errorCode;
  return typeof headerCode === "string" ? { code: headerCode } : {};
}

/** Retry-After (seconds or an HTTP date) or the millisecond variants, from the error's response headers. */
function retryAfterOf(error: ErrorLike): number | undefined {
  const header = (name: string): string | undefined => {
    for (const bag of [error.response?.headers, error.headers]) {
      if (!bag) continue;
      const value = typeof bag.get === "function" ? bag.get(name) : (bag[name] as string | undefined);
      if (typeof value === "string" && value.trim() !== "") return value.trim();
    }
    return undefined;
  };
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const value = Number(header(name));
    if (Number.isFinite(value) && value >= 0) return Math.min(value, MAX_RETRY_AFTER_MS);
  }
  const retryAfter = header("retry-after");
  if (retryAfter === undefined) return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - Date.now()), MAX_RETRY_AFTER_MS);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
