/**
 * `startSandbox()`: emulated Azure (ARM, Key Vault secrets, Microsoft Graph, blob static website,
 * token endpoint) on one loopback HTTPS server with a CA made at start. See docs/sandbox.md.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sandboxEndpoints, type CloudEndpoints } from "../azure/endpoints";
import {
  SANDBOX_BROKER_CLIENT_ID,
  SANDBOX_BROKER_OBJECT_ID,
  SANDBOX_SUBSCRIPTION_ID,
  SANDBOX_TENANT_ID,
  SandboxCredential,
  type AzureContext,
} from "../azure/credential";
import { DEFAULT_FAULTS, type SandboxFaultSettings } from "./faults";
import { RequestLog, SecretRegistry } from "./request-log";
import { SandboxServer } from "./server";
import { SandboxDirectory, systemClock, ManualClock, type SandboxClock } from "./state";
import { createSandboxTls } from "./tls";
import { createArmService, resourceTypeOf, type ArmService } from "./arm";
import { armSchemaValidator } from "./arm/schemas";
import { createKeyVaultService, type KeyVaultService } from "./keyvault";
import { createGraphService, type GraphService } from "./graph";
import { createBlobService } from "./blob";
import { createLoginService } from "./login";
import { createTokenKeys } from "./auth";
import type { SandboxEnvironment, SandboxServiceModule } from "./service";
import type { SandboxRequest, SandboxResponse } from "./types";

export { faultPreset } from "./faults";
export { ManualClock } from "./state";
export type { SandboxFaultSettings } from "./faults";

export interface StartSandboxOptions {
  stateDir?: string;
  faults?: Partial<SandboxFaultSettings>;
  /** Append one JSON line per request (also `SHIRE_SANDBOX_LOG`). */
  logFile?: string;
  clock?: SandboxClock;
  port?: number;
  /**
   * Give the broker the subscription-level roles docs/security.md lists (Contributor, Role Based
   * Access Control Administrator), as a deployed broker has them. Default true.
   */
  brokerRoles?: boolean;
}

export interface Sandbox {
  port: number;
  caFile: string;
  caCertificatePem: string;
  endpoints: CloudEndpoints;
  env: SandboxEnvironment;
  arm: ArmService;
  keyVault: KeyVaultService;
  graph: GraphService;
  /** The broker's app registration credentials (for ClientSecretCredential against the sandbox). */
  brokerCredential: { tenantId: string; clientId: string; clientSecret: string };
  services: Record<string, SandboxServiceModule>;
  /** What tests pass to `new AzureClients(...)`. */
  context(): AzureContext;
  setFaults(faults: Partial<SandboxFaultSettings>): void;
  inspect(): Record<string, unknown>;
  requests(): { time: string; method: string; url: string; status: number }[];
  stop(): Promise<void>;
}

export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
  // Find (and load) the ARM schemas now: a SHIRE_ARM_SPECS_DIR without them fails the start, not a later PUT.
  armSchemaValidator();
  const clock = options.clock ?? systemClock;
  const faults: SandboxFaultSettings = { ...DEFAULT_FAULTS, ...(options.faults ?? {}) };
  const directory = new SandboxDirectory(clock, faults.graphReplicationDelayMs);
  const secrets = new SecretRegistry();
  const env: SandboxEnvironment = {
    clock,
    directory,
    subscriptionId: SANDBOX_SUBSCRIPTION_ID,
    tenantId: SANDBOX_TENANT_ID,
    faults,
    secrets,
    port: 0,
    tokenKeys: createTokenKeys(),
  };

  const arm = createArmService(env);
  const keyVault = createKeyVaultService(env, arm);
  const graph = createGraphService(env, arm);
  const services: Record<string, SandboxServiceModule> = {
    arm,
    keyvault: keyVault,
    graph,
    blob: createBlobService(env, arm),
    login: createLoginService(env, graph),
  };
  const logFile = options.logFile ?? process.env.SHIRE_SANDBOX_LOG;
  if (logFile) fs.mkdirSync(path.dirname(path.resolve(logFile)), { recursive: true });
  const log = new RequestLog(logFile, secrets);

  const setFaults = (partial: Partial<SandboxFaultSettings>) => {
    Object.assign(faults, partial);
    directory.replicationDelayMs = faults.graphReplicationDelayMs;
  };
  const inspect = () =>
    Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.inspect?.() ?? null]));

  const control = async (request: SandboxRequest): Promise<SandboxResponse | undefined> => {
    if (request.method === "GET" && request.path === "/_sandbox/state") return { status: 200, body: inspect() };
    if (request.method === "GET" && request.path === "/_sandbox/requests") return { status: 200, body: log.recent };
    if (request.method === "POST" && request.path === "/_sandbox/faults") {
      setFaults((request.body ?? {}) as Partial<SandboxFaultSettings>);
      return { status: 200, body: faults };
    }
    if (request.method === "POST" && request.path === "/_sandbox/graph/users") {
      return {
        status: 201,
        body: graph.addUser((request.body ?? {}) as { displayName?: string; userPrincipalName?: string }),
      };
    }
    if (request.method === "POST" && request.path === "/_sandbox/graph/permissions") {
      const input = (request.body ?? {}) as { principalId?: string; permissions?: string[] };
      if (!input.principalId || !Array.isArray(input.permissions))
        return {
          status: 400,
          body: { error: { code: "BadRequest", message: "principalId and permissions (an array) are required." } },
        };
      graph.grantAppPermissions(input.principalId, input.permissions);
      return {
        status: 200,
        body: { principalId: input.principalId, permissions: graph.appPermissions(input.principalId) },
      };
    }
    if (request.method === "POST" && request.path === "/_sandbox/clock/advance") {
      if (!(clock instanceof ManualClock))
        return {
          status: 409,
          body: { error: { code: "ClockNotManual", message: "This sandbox runs on the system clock." } },
        };
      clock.advance(Number((request.body as { ms?: number } | undefined)?.ms ?? 0));
      return { status: 200, body: { now: new Date(clock.now()).toISOString() } };
    }
    return undefined;
  };

  const tls = createSandboxTls();
  const server = new SandboxServer({
    tls,
    env,
    modules: Object.values(services),
    log,
    control,
    port: options.port,
    resourceTypeOf: (request) => (request.service === "arm" ? resourceTypeOf(request.path) : undefined),
  });
  const port = await server.listen();
  env.port = port;
  if (options.brokerRoles !== false) await grantBrokerRoles(arm, env);
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "shire-sandbox-"));
  fs.mkdirSync(stateDir, { recursive: true });
  const caFile = path.join(stateDir, "sandbox-ca.pem");
  fs.writeFileSync(caFile, tls.caCertificatePem);
  const endpoints = sandboxEndpoints(port, tls.caCertificatePem);

  return {
    port,
    caFile,
    caCertificatePem: tls.caCertificatePem,
    endpoints,
    env,
    arm,
    keyVault,
    graph,
    brokerCredential: {
      tenantId: SANDBOX_TENANT_ID,
      clientId: SANDBOX_BROKER_CLIENT_ID,
      clientSecret: graph.brokerClientSecret,
    },
    services,
    context: () => ({
      endpoints,
      credential: new SandboxCredential(),
      subscriptionId: SANDBOX_SUBSCRIPTION_ID,
      tenantId: SANDBOX_TENANT_ID,
    }),
    setFaults,
    inspect,
    requests: () => log.recent,
    stop: () => server.close(),
  };
}

/** Subscription-level roles of a deployed broker (docs/security.md), effective from the start. */
const BROKER_ROLES = [
  {
    name: "5a1b0000-0000-4000-8000-000000000001",
    role: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    description: "Contributor (sandbox: the broker's deployment grant)",
  },
  {
    name: "5a1b0000-0000-4000-8000-000000000002",
    role: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    description: "Role Based Access Control Administrator (sandbox: the broker's deployment grant)",
  },
];

async function grantBrokerRoles(arm: ArmService, env: SandboxEnvironment): Promise<void> {
  for (const grant of BROKER_ROLES) {
    const path = `/subscriptions/${env.subscriptionId}/providers/Microsoft.Authorization/roleAssignments/${grant.name}`;
    const roleDefinitionId = `/subscriptions/${env.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${grant.role}`;
    // Through ARM's own PUT, so the assignment is stored exactly as any other.
    const response = await arm.engine.handle({
      service: "arm",
      method: "PUT",
      host: "management.sandbox.localhost",
      path,
      query: new URLSearchParams({ "api-version": "2022-04-01" }),
      headers: {},
      body: {
        properties: {
          roleDefinitionId,
          principalId: SANDBOX_BROKER_OBJECT_ID,
          principalType: "ServicePrincipal",
          description: grant.description,
        },
      },
      rawBody: Buffer.alloc(0),
      params: {},
      requestId: grant.name,
      baseUrl: `https://management.sandbox.localhost:${env.port}`,
    });
    if (response.status >= 300)
      throw new Error(`Sandbox: could not grant the broker ${grant.description}: ${JSON.stringify(response.body)}`);
    // The broker was granted these long before: no propagation delay applies.
    const stored = arm.store.get(path);
    if (stored) stored.createdAt = Number.NEGATIVE_INFINITY;
  }
}
