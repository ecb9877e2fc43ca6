/** Shared by the arm-*.test.ts files: raw ARM requests (for what the SDK cannot send) and small fixtures. */
import https from "node:https";
import { it } from "vitest";
import type { Sandbox } from "../../src/sandbox";
import { findSchemasDir } from "../../src/sandbox/arm/schemas";
import type { AzureClients } from "../../src/azure/clients";

/**
 * For checks that only the official ARM schemas make (../shared/reference/specs): that folder is
 * reference data beside the checkout, never copied in, so a checkout without it skips these and
 * says so in the report rather than failing on checks the sandbox cannot make there.
 */
export const itWithSchemas = it.skipIf(!findSchemasDir());

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // Response bodies are read loosely: the assertions say what matters.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** One HTTPS request to the emulated ARM, authenticated like the app's own clients. `path` may be a full URL the sandbox handed out. */
export async function armRaw(sandbox: Sandbox, method: string, path: string, body?: unknown): Promise<RawResponse> {
  const token = (await sandbox.context().credential.getToken(sandbox.endpoints.armScope))!.token;
  const target = path.startsWith("https://") ? new URL(path) : undefined;
  const requestPath = target ? `${target.pathname}${target.search}` : path;
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port: sandbox.port,
        method,
        path: requestPath,
        servername: "management.sandbox.localhost",
        // A connection of its own: a kept-alive one may belong to a sandbox that has since restarted.
        agent: false,
        ca: sandbox.caCertificatePem,
        headers: {
          host: `management.sandbox.localhost:${sandbox.port}`,
          authorization: `Bearer ${token}`,
          ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
      },
    );
    request.on("error", reject);
    if (data) request.write(data);
    request.end();
  });
}

/** The error a rejected promise carries (SDK RestError or Error). */
export function errorOf(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: { statusCode?: number; code?: string; message: string }) => error,
  );
}

export const API = {
  resources: "2025-04-01",
  app: "2025-07-01",
  keyVault: "2026-02-01",
  storage: "2025-08-01",
  identity: "2024-11-30",
  authorization: "2022-04-01",
  insights: "2022-10-01",
  workspaces: "2025-07-01",
  components: "2020-02-02",
  cognitive: "2025-09-01",
  bot: "2022-09-15",
  registry: "2025-11-01",
} as const;

export function ids(sandbox: Sandbox) {
  const subscription = `/subscriptions/${sandbox.env.subscriptionId}`;
  const group = (name: string) => `${subscription}/resourceGroups/${name}`;
  return {
    subscription,
    group,
    resource: (groupName: string, provider: string, ...rest: string[]) =>
      `${group(groupName)}/providers/${provider}/${rest.join("/")}`,
    role: (guid: string) => `${subscription}/providers/Microsoft.Authorization/roleDefinitions/${guid}`,
  };
}

export async function group(clients: AzureClients, name: string, location = "westeurope"): Promise<void> {
  await clients.resources.resourceGroups.createOrUpdate(name, { location, tags: { "managed-by": "shire" } });
}

export async function vault(
  sandbox: Sandbox,
  clients: AzureClients,
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

export const ROLES = {
  secretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  secretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
};
