/**
 * `startSandbox()`: emulated Azure (ARM, Key Vault secrets, Microsoft Graph, blob static website,
 * token endpoint) on one loopback HTTPS server, its state (and CA) kept in a state directory so a
 * restart carries on. See docs/sandbox.md.
 */
import { shareContent, type ShareContent } from "./arm/providers/revisions";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SANDBOX_DNS_SUFFIX, sandboxEndpoints, type CloudEndpoints } from "../azure/endpoints";
import {
  SANDBOX_BROKER_CLIENT_ID,
  SANDBOX_BROKER_OBJECT_ID,
  SANDBOX_SUBSCRIPTION_ID,
  SANDBOX_SUBSCRIPTION_IDS,
  SANDBOX_TENANT_ID,
  SandboxCredential,
  type AzureContext,
} from "../azure/credential";
import { DEFAULT_FAULTS, type SandboxFaultSettings } from "./faults";
import { RequestLog, SecretRegistry } from "./request-log";
import { RequestTimings, type RequestTiming } from "./timings";
import { SandboxServer } from "./server";
import { SandboxDirectory, systemClock, ManualClock, type SandboxClock } from "./state";
import { createArmService, resourceTypeOf, type ArmService } from "./arm";
import { armSchemaValidator } from "./arm/schemas";
import { createKeyVaultService, type KeyVaultService } from "./keyvault";
import { createGraphService, type GraphService } from "./graph";
import { createBlobService } from "./blob";
import { createLoginService } from "./login";
import type { SandboxEnvironment, SandboxServiceModule } from "./service";
import { SandboxStateFiles, writeFileAtomic, type PersistentCollection, type StateFileStats } from "./persistence";
import { CA_FILE, loadOrCreateKeys, readEndpointFile, writeEndpointFile } from "./state-dir";
import type { SandboxRequest, SandboxResponse } from "./types";
import { createAppDataPlane, type AppDataPlane } from "./apps";

export { faultPreset } from "./faults";
export { ManualClock } from "./state";
export type { SandboxFaultSettings } from "./faults";
export type { RequestTiming, TimeGate } from "./timings";
export type { StateFileStats } from "./persistence";

export interface StartSandboxOptions {
  /**
   * Where the sandbox keeps its state (emulated Azure, its CA and keys, `endpoint.json`), reloaded
   * on the next start with the same directory. Default: a new temporary directory (a fresh sandbox).
   */
  stateDir?: string;
  faults?: Partial<SandboxFaultSettings>;
  /** Append one JSON line per request (also `SHIRE_SANDBOX_LOG`). */
  logFile?: string;
  clock?: SandboxClock;
  /** Port to listen on. Default: the one this state directory's sandbox used last, when free, else any. */
  port?: number;
  /**
   * Give the broker the subscription-level roles docs/security.md lists (Contributor, Role Based
   * Access Control Administrator), as a deployed broker has them. Default true. Seeded on a
   * state directory's first start only: a restart keeps what the state says.
   */
  brokerRoles?: boolean;
  /** Record what the sandbox makes each request wait (`timings()`; timings.ts): for benches. */
  timings?: boolean;
}

export interface Sandbox {
  port: number;
  /** The state directory (docs/sandbox.md, "State and restarts"). */
  stateDir: string;
  /** Whether this start found state in the directory and carried on from it. */
  restored: boolean;
  caFile: string;
  caCertificatePem: string;
  endpoints: CloudEndpoints;
  env: SandboxEnvironment;
  arm: ArmService;
  keyVault: KeyVaultService;
  graph: GraphService;
  /** What each Container App replica holds, and whether each credential still works (apps.ts). */
  apps: AppDataPlane;
  /** The broker's app registration credentials (for ClientSecretCredential against the sandbox). */
  brokerCredential: { tenantId: string; clientId: string; clientSecret: string };
  services: Record<string, SandboxServiceModule>;
  /** What tests pass to `new AzureClients(...)`. */
  context(): AzureContext;
  setFaults(faults: Partial<SandboxFaultSettings>): void;
  inspect(): Record<string, unknown>;
  /**
   * What a file share holds as the sandbox models it (arm/providers/revisions.ts): the OpenClaw
   * version that last migrated it and how many migrations ran; undefined without such a share.
   */
  shareContent(resourceGroup: string, accountName: string, shareName: string): ShareContent | undefined;
  /** The last 1000 requests. */
  requests(): { time: string; method: string; url: string; status: number }[];
  /** Every request since the start with what the sandbox made it wait (only with `timings: true`). */
  timings(): RequestTiming[];
  /** How many requests were logged since the start: a mark for `requestsSince`. */
  requestCount(): number;
  /** The requests logged after `requestCount()` returned `mark`. */
  requestsSince(mark: number): { time: string; method: string; url: string; status: number }[];
  /**
   * Write what changed to the state directory now. Requests do this before they are answered;
   * tests that change the stores in process (not through a request) call it themselves.
   */
  flush(): void;
  /** Sizes and counts of the state files (tests check that persistence stays cheap). */
  stateFiles(): StateFileStats;
  /** Stop listening and write the state (a later start with the same `stateDir` carries on). */
  stop(): Promise<void>;
}

export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
  // Find (and load) the ARM schemas now: a SHIRE_ARM_SPECS_DIR without them fails the start, not a later PUT.
  armSchemaValidator();
  const stateDir = path.resolve(options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "shire-sandbox-")));
  fs.mkdirSync(stateDir, { recursive: true });
  const keys = loadOrCreateKeys(stateDir);
  const clock = options.clock ?? systemClock;
  const faults: SandboxFaultSettings = { ...DEFAULT_FAULTS, ...(options.faults ?? {}) };
  const directory = new SandboxDirectory(clock, faults.graphReplicationDelayMs);
  const secrets = new SecretRegistry();
  const env: SandboxEnvironment = {
    clock,
    directory,
    subscriptionId: SANDBOX_SUBSCRIPTION_ID,
    subscriptionIds: SANDBOX_SUBSCRIPTION_IDS,
    tenantId: SANDBOX_TENANT_ID,
    faults,
    secrets,
    port: 0,
    tokenKeys: keys.tokenKeys,
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
  const state = new SandboxStateFiles(stateDir, [
    ...Object.values(services).flatMap((service) => service.collections ?? []),
    ...sandboxCollections(env),
  ]);
  // Changes made in process rather than through a request are written at once too.
  const addUser = graph.addUser;
  graph.addUser = (input) => {
    const user = addUser(input);
    state.flush();
    return user;
  };
  const grantAppPermissions = graph.grantAppPermissions;
  graph.grantAppPermissions = (principalId, permissions) => {
    grantAppPermissions(principalId, permissions);
    state.flush();
  };
  const apps = createAppDataPlane(arm, graph, keyVault.readSecretVersion);
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
    if (request.method === "GET" && request.path === "/_sandbox/apps") {
      const appId = request.query.get("id");
      if (!appId)
        return {
          status: 400,
          body: { error: { code: "BadRequest", message: "id (a container app's ARM id) is required." } },
        };
      return { status: 200, body: apps.check(appId) };
    }
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

  const tls = keys.tls;
  const timings = new RequestTimings(options.timings === true);
  const server = new SandboxServer({
    tls,
    env,
    modules: Object.values(services),
    log,
    control,
    resourceTypeOf: (request) => (request.service === "arm" ? resourceTypeOf(request.path) : undefined),
    beforeAnswer: () => state.flush(),
    timings,
  });
  // The port this state was served on, when free: the URLs in it (vault URIs, blob endpoints)
  // and any a client kept (operation URLs) keep working, as Azure's endpoints never move.
  const previous = readEndpointFile(stateDir);
  const port = await server.listen(options.port ?? previous?.port ?? 0, options.port === undefined);
  if (options.port === undefined && previous && previous.port !== port)
    console.warn(`[sandbox] port ${previous.port} (used last time) is taken: listening on ${port}.`);
  env.port = port;
  let restored: boolean;
  try {
    restored = state.load(port);
    if (!restored && options.brokerRoles !== false) await grantBrokerRoles(arm, env);
    state.compact();
  } catch (error) {
    await server.close();
    throw error;
  }
  const caFile = path.join(stateDir, CA_FILE);
  writeFileAtomic(caFile, tls.caCertificatePem, 0o644);
  writeEndpointFile(stateDir, {
    port,
    caFile,
    managementUrl: `https://management.${SANDBOX_DNS_SUFFIX}:${port}`,
    pid: process.pid,
    startedAt: new Date().toISOString(),
  });
  server.open();
  const endpoints = sandboxEndpoints(port, tls.caCertificatePem);

  return {
    port,
    stateDir,
    restored,
    caFile,
    caCertificatePem: tls.caCertificatePem,
    endpoints,
    env,
    arm,
    keyVault,
    graph,
    apps,
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
    shareContent: (resourceGroup, accountName, shareName) => {
      arm.engine.settle();
      const share = arm.engine.store.get(
        `/subscriptions/${SANDBOX_SUBSCRIPTION_ID}/resourceGroups/${resourceGroup}/providers/Microsoft.Storage/storageAccounts/${accountName}/fileServices/default/shares/${shareName}`,
      );
      return share ? shareContent(share) : undefined;
    },
    requests: () => log.recent,
    timings: () => timings.records,
    requestCount: () => log.total,
    requestsSince: (mark) => log.since(mark),
    flush: () => void state.flush(),
    stateFiles: () => state.info(),
    stop: async () => {
      await server.close();
      state.close();
    },
  };
}

/**
 * What the sandbox keeps besides the services' stores: the Entra principals directory, the
 * secrets the request log redacts, and a manual clock's time (a restarted test sandbox never
 * goes back in time: its clock moves on to where the state left it).
 */
function sandboxCollections(env: SandboxEnvironment): PersistentCollection[] {
  return [
    {
      name: "directory.principals",
      dirty: env.directory.changes.tracker(),
      entries: () => env.directory.entries(),
      load: (records) => env.directory.load(records),
    },
    {
      name: "requestLog.secrets",
      dirty: env.secrets.changes.tracker(),
      entries: () => env.secrets.all().map((value): [string, unknown] => [value, true]),
      load: (records) => env.secrets.load(records.keys()),
    },
    {
      name: "sandbox.clock",
      entries: () => (env.clock instanceof ManualClock ? [["manualNow", env.clock.now()]] : []),
      load: (records) => {
        const saved = records.get("manualNow");
        if (env.clock instanceof ManualClock && typeof saved === "number" && saved > env.clock.now())
          env.clock.advance(saved - env.clock.now());
      },
    },
  ];
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

/** The broker's roles in every subscription of the tenant, as an operator grants them on each of a placement pool's. */
async function grantBrokerRoles(arm: ArmService, env: SandboxEnvironment): Promise<void> {
  for (const [index, subscriptionId] of env.subscriptionIds.entries())
    for (const grant of BROKER_ROLES) {
      // Role assignment names are unique in the tenant: each subscription's grant gets its own.
      await grantBrokerRole(arm, env, subscriptionId, {
        ...grant,
        name: grant.name.replace(/^5a1b0000/, `5a1b${String(index).padStart(4, "0")}`),
      });
    }
}

async function grantBrokerRole(
  arm: ArmService,
  env: SandboxEnvironment,
  subscriptionId: string,
  grant: (typeof BROKER_ROLES)[number],
): Promise<void> {
  const path = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleAssignments/${grant.name}`;
  const roleDefinitionId = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${grant.role}`;
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
