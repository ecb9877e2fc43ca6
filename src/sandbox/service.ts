/** What every emulated service gets and gives (see types.ts for routes). */
import type { SandboxClock, SandboxDirectory } from "./state";
import type { SandboxFaultSettings } from "./faults";
import type { SecretRegistry } from "./request-log";
import type { SandboxRoute } from "./types";
import type { TokenKeys } from "./auth";
import type { PersistentCollection } from "./persistence";

export interface SandboxServiceModule {
  name: string;
  routes: SandboxRoute[];
  /** JSON-able snapshot for the inspection API (never secret values). */
  inspect?(): unknown;
  /** The service's stores as records, kept in the state directory (persistence.ts). */
  collections?: PersistentCollection[];
}

export interface SandboxEnvironment {
  clock: SandboxClock;
  directory: SandboxDirectory;
  /** The broker's own subscription (the default context's). */
  subscriptionId: string;
  /** Every subscription of the tenant, the broker's own first: ARM answers SubscriptionNotFound for others. */
  subscriptionIds: readonly string[];
  tenantId: string;
  faults: SandboxFaultSettings;
  /** Every secret the sandbox mints or stores, so the request log can redact it. */
  secrets: SecretRegistry;
  /** Port the sandbox listens on (set once listening). */
  port: number;
  /** The token endpoint's signing key (its public half is served as JWKS). */
  tokenKeys: TokenKeys;
}

/** The subscription a resource id (or any ARM path) is in, lower-cased; undefined for none. */
export function subscriptionOf(resourceId: string): string | undefined {
  return /^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1]?.toLowerCase();
}

/** Whether the tenant has this subscription. */
export function knowsSubscription(env: SandboxEnvironment, subscriptionId: string): boolean {
  return env.subscriptionIds.some((known) => known.toLowerCase() === subscriptionId.toLowerCase());
}
