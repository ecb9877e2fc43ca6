/**
 * What a resource kind's module provides (`ResourceKindDefinition`), and the failure policy every
 * activity runs under: each failure the activity can classify comes back as an `ActivityFailure`
 * value saying whether and how to retry (the step runner decides), and every message is scrubbed
 * of the secret values the activity touched. Only what nobody could classify (a host failure)
 * reaches the orchestration as a thrown TaskFailed.
 */
import type { ActivityFailure, ActivityInput, ActivityResult } from "../src/contract/activity";
import type { Resolvable } from "../src/contract/reference";
import type { DesiredOf, OutputOf, ResourceKind } from "../src/contract/resources";
import type { ActivityDeps } from "./deps";
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

export type ActivityHandler<TDesired, OutputName extends string = string> = (
  input: ActivityInput<TDesired>,
  secrets: SecretScope,
) => Promise<ActivityResult<OutputName>>;

/** Converges the resource to `desired` (reads, compares, writes only what differs). */
export type EnsureHandler<K extends ResourceKind> = ActivityHandler<DesiredOf<K>, OutputOf<K>>;
/** Deletes the resource, waits for the deletion, and treats "not there" as done. */
export type RemoveHandler<K extends ResourceKind> = ActivityHandler<DesiredOf<K>, never>;

/**
 * What teardown does with a resource of this slug: remove it itself, leave it to what contains
 * it (everything in `claw-<slug>` goes with the resource group; an app's assignments with its
 * service principal), or keep it (shared by every slug, e.g. `shire-admins`).
 */
export type TeardownPolicy = "remove" | "cascade" | "keep";

export interface TeardownContext {
  /** ARM id of the slug's resource group. */
  resourceGroupId: string;
  /** The operator asked for purge: soft-deleted copies go too. */
  purge: boolean;
}

export interface ResourceKindDefinition<K extends ResourceKind> {
  kind: K;
  /** One line for docs/resources.md (generated from the registry). */
  summary: string;
  /** The Azure or Entra API it talks to, for the same table. */
  api: string;
  teardown(desired: Resolvable<DesiredOf<K>>, context: TeardownContext): TeardownPolicy;
  /** The kind's activities on the given deps (the dry run and `inspect` pass read-only ones). */
  activities(deps: ActivityDeps): { ensure: EnsureHandler<K>; remove: RemoveHandler<K> };
}

/** Identity function that checks a kind's module against its entry in the contract. */
export function defineKind<K extends ResourceKind>(definition: ResourceKindDefinition<K>): ResourceKindDefinition<K> {
  return definition;
}

/** Run a handler with the failure policy above. Exposed for tests that call activities directly. */
export async function runActivity<TDesired, OutputName extends string>(
  handler: ActivityHandler<TDesired, OutputName>,
  input: ActivityInput<TDesired>,
  log?: (message: string) => void,
): Promise<ActivityResult<OutputName> | ActivityFailure> {
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
      ...(classified.statusCode !== undefined ? { statusCode: classified.statusCode } : {}),
    };
  }
}
