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
  subscriptionId: string;
  tenantId: string;
  faults: SandboxFaultSettings;
  /** Every secret the sandbox mints or stores, so the request log can redact it. */
  secrets: SecretRegistry;
  /** Port the sandbox listens on (set once listening). */
  port: number;
  /** The token endpoint's signing key (its public half is served as JWKS). */
  tokenKeys: TokenKeys;
}
