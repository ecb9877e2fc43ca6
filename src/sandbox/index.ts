/**
 * `startSandbox()`: emulated Azure (ARM, Key Vault secrets, Microsoft Graph, blob static website,
 * token endpoint) on one loopback HTTPS server with a CA made at start. See docs/sandbox.md.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sandboxEndpoints, type CloudEndpoints } from "../azure/endpoints";
import { SANDBOX_SUBSCRIPTION_ID, SANDBOX_TENANT_ID, SandboxCredential, type AzureContext } from "../azure/credential";
import { DEFAULT_FAULTS, type SandboxFaultSettings } from "./faults";
import { RequestLog, SecretRegistry } from "./request-log";
import { SandboxServer } from "./server";
import { SandboxDirectory, systemClock, ManualClock, type SandboxClock } from "./state";
import { createSandboxTls } from "./tls";
import { createArmService, resourceTypeOf, type ArmService } from "./arm";
import { createKeyVaultService, type KeyVaultService } from "./keyvault";
import { createGraphService } from "./graph";
import { createBlobService } from "./blob";
import { createLoginService } from "./login";
import type { SandboxEnvironment, SandboxServiceModule } from "./service";
import type { SandboxRequest, SandboxResponse } from "./types";

export { faultPreset } from "./faults";
export type { SandboxFaultSettings } from "./faults";

export interface StartSandboxOptions {
  stateDir?: string;
  faults?: Partial<SandboxFaultSettings>;
  /** Append one JSON line per request (also `SHIRE_SANDBOX_LOG`). */
  logFile?: string;
  clock?: SandboxClock;
  port?: number;
}

export interface Sandbox {
  port: number;
  caFile: string;
  caCertificatePem: string;
  endpoints: CloudEndpoints;
  env: SandboxEnvironment;
  arm: ArmService;
  keyVault: KeyVaultService;
  services: Record<string, SandboxServiceModule>;
  /** What tests pass to `new AzureClients(...)`. */
  context(): AzureContext;
  setFaults(faults: Partial<SandboxFaultSettings>): void;
  inspect(): Record<string, unknown>;
  requests(): { time: string; method: string; url: string; status: number }[];
  stop(): Promise<void>;
}

export async function startSandbox(options: StartSandboxOptions = {}): Promise<Sandbox> {
  const clock = options.clock ?? systemClock;
  const faults: SandboxFaultSettings = { ...DEFAULT_FAULTS, ...(options.faults ?? {}) };
  const directory = new SandboxDirectory(clock, faults.graphReplicationDelayMs);
  const secrets = new SecretRegistry();
  const env: SandboxEnvironment = { clock, directory, subscriptionId: SANDBOX_SUBSCRIPTION_ID, tenantId: SANDBOX_TENANT_ID, faults, secrets, port: 0 };

  const arm = createArmService(env);
  const keyVault = createKeyVaultService(env, arm);
  const services: Record<string, SandboxServiceModule> = { arm, keyvault: keyVault, graph: createGraphService(env), blob: createBlobService(env, arm), login: createLoginService(env) };
  const logFile = options.logFile ?? process.env.SHIRE_SANDBOX_LOG;
  if (logFile) fs.mkdirSync(path.dirname(path.resolve(logFile)), { recursive: true });
  const log = new RequestLog(logFile, secrets);

  const setFaults = (partial: Partial<SandboxFaultSettings>) => {
    Object.assign(faults, partial);
    directory.replicationDelayMs = faults.graphReplicationDelayMs;
  };
  const inspect = () => Object.fromEntries(Object.entries(services).map(([name, service]) => [name, service.inspect?.() ?? null]));

  const control = async (request: SandboxRequest): Promise<SandboxResponse | undefined> => {
    if (request.method === "GET" && request.path === "/_sandbox/state") return { status: 200, body: inspect() };
    if (request.method === "GET" && request.path === "/_sandbox/requests") return { status: 200, body: log.recent };
    if (request.method === "POST" && request.path === "/_sandbox/faults") {
      setFaults((request.body ?? {}) as Partial<SandboxFaultSettings>);
      return { status: 200, body: faults };
    }
    if (request.method === "POST" && request.path === "/_sandbox/clock/advance") {
      if (!(clock instanceof ManualClock)) return { status: 409, body: { error: { code: "ClockNotManual", message: "This sandbox runs on the system clock." } } };
      clock.advance(Number((request.body as { ms?: number } | undefined)?.ms ?? 0));
      return { status: 200, body: { now: new Date(clock.now()).toISOString() } };
    }
    return undefined;
  };

  const tls = createSandboxTls();
  const server = new SandboxServer({ tls, env, modules: Object.values(services), log, control, port: options.port, resourceTypeOf: (request) => (request.service === "arm" ? resourceTypeOf(request.path) : undefined) });
  const port = await server.listen();
  env.port = port;
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
    services,
    context: () => ({ endpoints, credential: new SandboxCredential(), subscriptionId: SANDBOX_SUBSCRIPTION_ID, tenantId: SANDBOX_TENANT_ID }),
    setFaults,
    inspect,
    requests: () => log.recent,
    stop: () => server.close(),
  };
}

