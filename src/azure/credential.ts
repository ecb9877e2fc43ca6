/**
 * The one place the app gets its Azure context: endpoints, a TokenCredential, subscription and
 * tenant. Against the sandbox a static credential; against Azure `DefaultAzureCredential`.
 */
import fs from "node:fs";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import {
  AZURE_CHINA_CLOUD,
  AZURE_PUBLIC_CLOUD,
  AZURE_US_GOVERNMENT,
  sandboxEndpoints,
  type CloudEndpoints,
} from "./endpoints";

export interface AzureContext {
  endpoints: CloudEndpoints;
  credential: TokenCredential;
  subscriptionId: string;
  tenantId: string;
  /**
   * Sandbox only: poll long-running operations this often instead of after the service's
   * Retry-After. A sandbox on a compressed clock (the install bench: every Azure duration times
   * 0.02) would have to say "retry after 20 ms", which HTTP's whole seconds cannot; this is the
   * broker's side of that scaling, like its retry schedule. Against Azure the SDK always follows
   * Retry-After (azureContextFromEnv refuses the setting there).
   */
  operationPollIntervalMs?: number;
}

/** Well-known ids the sandbox uses unless told otherwise. */
export const SANDBOX_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001";
/**
 * Every subscription of the sandbox's tenant: the broker's own first, then two more a placement
 * pool can name (docs/operations.md, "Placement"). The broker holds its roles in all three.
 */
export const SANDBOX_SUBSCRIPTION_IDS = [
  SANDBOX_SUBSCRIPTION_ID,
  "00000000-0000-4000-8000-000000000002",
  "00000000-0000-4000-8000-000000000003",
] as const;
export const SANDBOX_TENANT_ID = "00000000-0000-4000-8000-0000000000aa";
/** Object id of the broker's own identity in the sandbox (the caller of every request). */
export const SANDBOX_BROKER_OBJECT_ID = "00000000-0000-4000-8000-0000000000b0";
/** Client (application) id of the broker's app registration in the sandbox. */
export const SANDBOX_BROKER_CLIENT_ID = "00000000-0000-4000-8000-0000000000c0";

/**
 * A credential for the sandbox: an unsigned JWT-shaped token naming the broker. The sandbox
 * checks its audience, tenant and lifetime as Azure would, but, like any test double, takes it
 * unsigned. Lifetimes are on the wall clock (`Date.now()`), the clock the SDKs' token caches use
 * and the one the sandbox judges tokens by: moving the sandbox's clock never expires a token.
 */
export class SandboxCredential implements TokenCredential {
  constructor(
    private readonly tenantId: string = SANDBOX_TENANT_ID,
    private readonly objectId: string = SANDBOX_BROKER_OBJECT_ID,
  ) {}

  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    const expiresOnTimestamp = Date.now() + 60 * 60 * 1000;
    const claims = {
      aud: scope?.replace(/\/\.default$/, "") ?? "",
      tid: this.tenantId,
      oid: this.objectId,
      appid: SANDBOX_BROKER_CLIENT_ID,
      exp: Math.floor(expiresOnTimestamp / 1000),
    };
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    return { token: `${encode({ alg: "none", typ: "JWT" })}.${encode(claims)}.`, expiresOnTimestamp };
  }
}

const CLOUDS: Record<string, CloudEndpoints> = {
  AzureCloud: AZURE_PUBLIC_CLOUD,
  AzureUSGovernment: AZURE_US_GOVERNMENT,
  AzureChinaCloud: AZURE_CHINA_CLOUD,
};

/**
 * Read the Azure context from the environment:
 * - `SHIRE_CLOUD`: `Sandbox` (default) or `AzureCloud` / `AzureUSGovernment` / `AzureChinaCloud`
 * - sandbox: `SHIRE_SANDBOX_PORT`, `SHIRE_SANDBOX_CA_FILE` (written by the sandbox at start)
 * - Azure: `AZURE_SUBSCRIPTION_ID`, `AZURE_TENANT_ID`, plus whatever DefaultAzureCredential reads
 */
/**
 * The object id of the identity Shire runs as: it is granted Key Vault Secrets Officer on each
 * slug vault. The sandbox's broker by default; against a real cloud it must be configured, since
 * a role for the wrong principal would only show as secrets steps failing minutes later.
 */
export function brokerPrincipalIdFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SHIRE_BROKER_PRINCIPAL_ID) return env.SHIRE_BROKER_PRINCIPAL_ID;
  if ((env.SHIRE_CLOUD ?? "Sandbox") === "Sandbox") return SANDBOX_BROKER_OBJECT_ID;
  throw new Error(
    `SHIRE_CLOUD=${env.SHIRE_CLOUD} needs SHIRE_BROKER_PRINCIPAL_ID: the object id of the identity Shire runs as.`,
  );
}

/** SHIRE_OPERATION_POLL_INTERVAL_MS: a positive whole number of milliseconds, or unset. */
function operationPollIntervalFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.SHIRE_OPERATION_POLL_INTERVAL_MS;
  if (raw === undefined || raw === "") return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new Error(`SHIRE_OPERATION_POLL_INTERVAL_MS must be a positive whole number of milliseconds, not '${raw}'.`);
  return ms;
}

export function azureContextFromEnv(env: NodeJS.ProcessEnv = process.env): AzureContext {
  const cloud = env.SHIRE_CLOUD ?? "Sandbox";
  if (cloud === "Sandbox") {
    const port = Number(env.SHIRE_SANDBOX_PORT);
    const caFile = env.SHIRE_SANDBOX_CA_FILE;
    if (!Number.isInteger(port) || port <= 0 || !caFile) {
      throw new Error(
        "SHIRE_CLOUD is Sandbox (the default) but SHIRE_SANDBOX_PORT / SHIRE_SANDBOX_CA_FILE are not set: start the broker with `npm start`, or set SHIRE_CLOUD=AzureCloud.",
      );
    }
    return {
      endpoints: sandboxEndpoints(port, fs.readFileSync(caFile, "utf8")),
      credential: new SandboxCredential(env.AZURE_TENANT_ID ?? SANDBOX_TENANT_ID),
      subscriptionId: env.AZURE_SUBSCRIPTION_ID ?? SANDBOX_SUBSCRIPTION_ID,
      tenantId: env.AZURE_TENANT_ID ?? SANDBOX_TENANT_ID,
      operationPollIntervalMs: operationPollIntervalFromEnv(env),
    };
  }
  const endpoints = CLOUDS[cloud];
  if (!endpoints) throw new Error(`SHIRE_CLOUD=${cloud} is not one of Sandbox, ${Object.keys(CLOUDS).join(", ")}.`);
  if (env.SHIRE_OPERATION_POLL_INTERVAL_MS)
    throw new Error(
      `SHIRE_OPERATION_POLL_INTERVAL_MS is for the sandbox's compressed clock; against ${cloud} the SDK polls after the service's Retry-After. Remove the setting.`,
    );
  const subscriptionId = env.AZURE_SUBSCRIPTION_ID;
  const tenantId = env.AZURE_TENANT_ID;
  if (!subscriptionId || !tenantId)
    throw new Error(`SHIRE_CLOUD=${cloud} needs AZURE_SUBSCRIPTION_ID and AZURE_TENANT_ID.`);
  return {
    endpoints,
    credential: new DefaultAzureCredential({ authorityHost: endpoints.authorityHost, tenantId }),
    subscriptionId,
    tenantId,
  };
}
