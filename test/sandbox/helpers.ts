/**
 * What the sandbox's own tests share: raw HTTPS to a sandbox host, hand-made tokens, failures as
 * values, role ids, and the resources many suites start from (a group, a vault, a role for the broker).
 */
import https from "node:https";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { Sandbox } from "../../src/sandbox";
import type { AzureClients } from "../../src/azure/clients";
import { SandboxCredential, SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { sandboxAgent } from "../../src/azure/transport";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to `<host>.sandbox.localhost` through the sandbox agent (CA trusted, loopback DNS). */
export function raw(
  sandbox: Sandbox,
  host: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | object } = {},
): Promise<RawResponse> {
  const agent = sandboxAgent(sandbox.endpoints);
  const payload =
    options.body === undefined
      ? undefined
      : typeof options.body === "string"
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: `${host}.sandbox.localhost`,
        port: sandbox.port,
        method,
        path,
        agent,
        headers: {
          ...(typeof options.body === "object" ? { "content-type": "application/json" } : {}),
          ...(options.headers ?? {}),
        },
      },
      (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    request.on("error", reject);
    if (payload !== undefined) request.write(payload);
    request.end();
  });
}

const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An unsigned token with the claims given (defaults: the broker, the sandbox tenant, valid for an hour). */
export function token(sandbox: Sandbox, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return `${encode({ alg: "none", typ: "JWT" })}.${encode({ oid: SANDBOX_BROKER_OBJECT_ID, tid: sandbox.env.tenantId, exp: now + 3600, ...claims })}.`;
}

/** A credential that answers every scope with a token for `audience` (a client asking for the wrong resource). */
export class WrongAudienceCredential implements TokenCredential {
  constructor(
    private readonly audience: string,
    private readonly inner: TokenCredential = new SandboxCredential(),
  ) {}
  getToken(): Promise<AccessToken | null> {
    return this.inner.getToken(`${this.audience}/.default`);
  }
}

/** A credential that always returns the given token. */
export class StaticTokenCredential implements TokenCredential {
  constructor(private readonly value: string) {}
  async getToken(): Promise<AccessToken> {
    return { token: this.value, expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

export function failure(
  promise: Promise<unknown>,
): Promise<{ statusCode?: number; code?: string; message: string; details?: unknown; body?: unknown }> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: { statusCode?: number; code?: string; message: string }) => error,
  );
}

export const roleId = (sandbox: Sandbox, guid: string) =>
  `/subscriptions/${sandbox.env.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

export const ROLES = {
  secretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  secretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  blobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
};

/** A sandbox and the broker's clients on it (a SandboxFixture is one). */
export type SandboxAndClients = { sandbox: Sandbox; clients: AzureClients };

export async function group(clients: AzureClients, name: string, location = "westeurope"): Promise<void> {
  await clients.resources.resourceGroups.createOrUpdate(name, { location, tags: { "managed-by": "shire" } });
}

/** A vault as Shire makes them: standard SKU, the sandbox's tenant, RBAC authorization. */
export async function vault(
  { sandbox, clients }: SandboxAndClients,
  groupName: string,
  name: string,
  extra: Record<string, unknown> = {},
) {
  return clients.keyVault.vaults.createOrUpdate(groupName, name, {
    location: "westeurope",
    properties: {
      tenantId: sandbox.env.tenantId,
      sku: { family: "A", name: "standard" },
      enableRbacAuthorization: true,
      ...extra,
    },
  });
}

/** Give the broker `role` (default Key Vault Secrets Officer) on `scope`, in the assignment named `name`. */
export async function grantBroker(
  { sandbox, clients }: SandboxAndClients,
  scope: string,
  name: string,
  role: string = ROLES.secretsOfficer,
) {
  return clients.authorization.roleAssignments.create(scope, name, {
    roleDefinitionId: roleId(sandbox, role),
    principalId: SANDBOX_BROKER_OBJECT_ID,
    principalType: "ServicePrincipal",
  });
}

/** A workspace and a managed environment logging to it (both provisioned). */
export async function environment(clients: AzureClients, groupName: string, name: string, location = "westeurope") {
  const workspace = await clients.operationalInsights.workspaces.createOrUpdate(groupName, `log-${name}`, {
    location,
    sku: { name: "PerGB2018" },
    retentionInDays: 30,
  });
  const keys = await clients.operationalInsights.sharedKeys.getSharedKeys(groupName, `log-${name}`);
  return clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait(groupName, name, {
    location,
    appLogsConfiguration: {
      destination: "log-analytics",
      logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
    },
  });
}
