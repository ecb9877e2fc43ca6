/**
 * The contract between orchestrations and activities. An activity converges (`ensure`), removes
 * (`remove`) or reads (`inspect`) one Azure or Entra resource described by a plan node's
 * `desired`, and returns a small summary without secrets.
 */
import type { Outputs } from "./reference";

/** What a step does with its resource. */
export type StepVerb = "ensure" | "remove" | "inspect";
export const STEP_VERBS: readonly StepVerb[] = ["ensure", "remove", "inspect"];

/** The activity that does `verb` for plan kind `kind`: kind "keyVault" is `ensureKeyVault`, `removeKeyVault`... */
export function activityName(verb: StepVerb, kind: string): string {
  return `${verb}${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}

export interface ActivityInput<TDesired = unknown> {
  operationId: string;
  slug: string;
  /** Plan node id, e.g. "keyVault" or "roleAssignment:gateway-secrets-user". */
  nodeId: string;
  desired: TDesired;
  /** 1 for the first delivery of a step, 2 for its first retry, ... (logs say which attempt failed). */
  attempt?: number;
  /** For `remove`: also purge what keeps a soft-deleted copy (Key Vault, Entra deleted items). */
  purge?: boolean;
  /** The operation's W3C traceparent: the step's span continues the operation's trace. */
  trace?: string;
  /** The subscription the slug is placed in; absent: the broker's own (slugs from before placement). */
  subscriptionId?: string;
}

export type ConvergeAction = "created" | "updated" | "unchanged" | "recovered" | "deleted" | "absent";

export interface ActivityResult<OutputName extends string = string> {
  nodeId: string;
  action: ConvergeAction;
  /** ARM resource id or Graph object id of what was converged. */
  resourceId?: string;
  /** Property paths that differed and were written (empty when unchanged). */
  changed: string[];
  /** Non-secret values dependents need (principalId, fqdn, customerId, secret names and versions). */
  outputs: Outputs<OutputName>;
  /** What a step could not do and the operator should know (e.g. a vault kept by purge protection). */
  notes?: string[];
}

/**
 * An activity that fails returns this instead of throwing, so the orchestration decides about
 * retries with everything the failure says: whether retrying can help, how patient to be
 * (propagation delays take minutes), and how long the service asked to wait (Retry-After). A
 * durable retry policy could not honour Retry-After; the step runner does.
 */
export interface ActivityFailure {
  nodeId: string;
  failed: true;
  code: string;
  message: string;
  /** Retrying can help (throttling, 5xx, busy resources, propagation). Absent = permanent. */
  retryable?: boolean;
  retryClass?: "transient" | "propagation";
  /** The service's Retry-After, in milliseconds. */
  retryAfterMs?: number;
  /** The service's HTTP status, when it answered (429 counts as throttling in the metrics). */
  statusCode?: number;
}

export function isActivityFailure(value: unknown): value is ActivityFailure {
  return typeof value === "object" && value !== null && (value as { failed?: unknown }).failed === true;
}

/** What `inspect` reports: how the live resource differs from desired, read without writing. */
export interface Inspection {
  nodeId: string;
  state: "absent" | "differs" | "matches" | "unknown";
  /** Property paths that differ (for "differs"). */
  changed: string[];
  /** Why the state is unknown (a read failed, or a dependency's value is not known yet). */
  error?: string;
}
