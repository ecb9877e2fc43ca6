/**
 * The contract between orchestrations and activities. Activities converge one Azure resource to
 * the `desired` state a plan node carries, and return a small summary without secrets.
 *
 * Values only known at run time (a workspace's customerId, an identity's principalId, an app's
 * FQDN) appear in `desired` as references `{ fromNode, output }`; the orchestration resolves them
 * from the dependency's `outputs` before calling the activity (see `resolveReferences`).
 */
export interface NodeReference {
  fromNode: string;
  output: string;
  /** Optional string template: `${value}` is replaced by the output (e.g. "https://openclaw.${value}"). */
  format?: string;
}

export interface ActivityInput<TDesired = Record<string, unknown>> {
  operationId: string;
  slug: string;
  /** Plan node id, e.g. "keyVault" or "roleAssignment:gateway-secrets-user". */
  nodeId: string;
  desired: TDesired;
  /** 1 for the first delivery of a step, 2 for its first retry, ... (logs say which attempt failed). */
  attempt?: number;
}

export type ConvergeAction = "created" | "updated" | "unchanged" | "recovered" | "deleted" | "absent";

export interface ActivityResult {
  nodeId: string;
  action: ConvergeAction;
  /** ARM resource id or Graph object id of what was converged. */
  resourceId?: string;
  /** Property paths that differed and were written (empty when unchanged). */
  changed: string[];
  /** Non-secret values dependents need (principalId, fqdn, customerId, secret names and versions). */
  outputs: Record<string, string | number | boolean | null>;
}

/**
 * An activity that fails returns this instead of throwing, so the orchestration decides about
 * retries with everything the failure says: whether retrying can help, how patient to be
 * (propagation delays take minutes), and how long the service asked to wait (Retry-After). A
 * durable retry policy could not honour Retry-After; the walker does (orchestrations/plan-walker.ts).
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
}

export function isActivityFailure(value: unknown): value is ActivityFailure {
  return typeof value === "object" && value !== null && (value as { failed?: unknown }).failed === true;
}

export function isNodeReference(value: unknown): value is NodeReference {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as NodeReference).fromNode === "string" &&
    typeof (value as NodeReference).output === "string" &&
    Object.keys(value).every((key) => key === "fromNode" || key === "output" || key === "format")
  );
}

/** Replace every `{ fromNode, output }` in `value` with that node's output. Pure. */
export function resolveReferences<T>(value: T, results: Record<string, ActivityResult | undefined>): T {
  if (isNodeReference(value)) {
    const result = results[value.fromNode];
    if (!result) throw new Error(`Reference to node "${value.fromNode}" which has no result yet.`);
    if (!(value.output in result.outputs)) {
      throw new Error(`Node "${value.fromNode}" has no output "${value.output}".`);
    }
    const output = result.outputs[value.output];
    if (value.format !== undefined) return value.format.split("${value}").join(String(output)) as T;
    return output as T;
  }
  if (Array.isArray(value)) return value.map((item) => resolveReferences(item, results)) as T;
  if (typeof value === "object" && value !== null) {
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) resolved[key] = resolveReferences(item, results);
    return resolved as T;
  }
  return value;
}
