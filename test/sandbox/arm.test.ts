/** The emulated ARM through the official SDK clients: LROs, conflicts, soft delete, role assignments, faults. */
import fs from "node:fs";
import https from "node:https";
import { describe, expect, it } from "vitest";
import { ContainerAppsAPIClient } from "@azure/arm-appcontainers";
import { armClientOptions } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { itWithSchemas } from "./arm-helpers";
import { failure, grantBroker, group, roleId, ROLES, vault } from "./helpers";

const clock = new ManualClock();
const azure = useSandbox({ logFile: true, clock });

describe("resource groups and long-running operations", () => {
  it("polls an LRO to its end and cascades a group delete to everything in it", async () => {
    await group(azure.clients, "rg-cascade");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.Storage/storageAccounts": 5_000 } });
    const poller = azure.clients.storage.storageAccounts.create("rg-cascade", "stcascade1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    // The account exists but is still provisioning until the sandbox clock moves.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(
      (azure.sandbox.arm.store.findStorageAccount("stcascade1")?.resource.properties as { provisioningState: string })
        .provisioningState,
    ).toBe("Creating");
    clock.advance(5_000);
    const account = await poller;
    expect(account.provisioningState).toBe("Succeeded");
    azure.sandbox.setFaults({ lroDurationMs: {} });

    await vault(azure, "rg-cascade", "kv-cascade-1");
    await azure.clients.resources.resourceGroups.delete("rg-cascade");
    expect(azure.sandbox.arm.store.findStorageAccount("stcascade1")).toBeUndefined();
    expect(azure.sandbox.arm.store.findVault("kv-cascade-1")?.softDeleted).toBe(true);
    const missing = await failure(azure.clients.resources.resourceGroups.get("rg-cascade"));
    expect(missing).toMatchObject({ statusCode: 404, code: "ResourceGroupNotFound" });
  });

  it("answers an unpinned api-version the way ARM does", async () => {
    const stale = new ContainerAppsAPIClient(
      azure.sandbox.context().credential,
      azure.sandbox.env.subscriptionId,
      armClientOptions(azure.sandbox.context(), "2024-03-01"),
    );
    const error = await failure(stale.managedEnvironments.get("any", "any"));
    expect(error).toMatchObject({ statusCode: 400, code: "NoRegisteredProviderFound" });
    expect(error.message).toContain("2025-07-01");
  });

  it("refuses bodies and names Azure would refuse", async () => {
    await group(azure.clients, "rg-refuse");
    expect(
      await failure(
        azure.clients.storage.storageAccounts.create("rg-refuse", "Not_Valid", {
          location: "westeurope",
          sku: { name: "Standard_LRS" },
          kind: "StorageV2",
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: "AccountNameInvalid" });
    expect(await failure(vault(azure, "rg-refuse", "kv--double"))).toMatchObject({
      statusCode: 400,
      code: "VaultNameNotValid",
    });
    expect(
      await failure(
        azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-missing", "id-x", {
          location: "westeurope",
        }),
      ),
    ).toMatchObject({ statusCode: 404, code: "ResourceGroupNotFound" });
    const badTransport = await failure(
      azure.clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait("rg-refuse", "cae-refuse", {
        location: "westeurope",
        appLogsConfiguration: { destination: "nowhere" },
      }),
    );
    expect(badTransport).toMatchObject({
      statusCode: 400,
      code: "InvalidRequestContent",
      message: "appLogsConfiguration.destination 'nowhere' is not valid.",
    });
  });

  itWithSchemas("refuses a body the official schema for the pinned version refuses", async () => {
    await group(azure.clients, "rg-refuse-schema");
    const badSku = await failure(
      azure.clients.keyVault.vaults.createOrUpdate("rg-refuse-schema", "kv-bad-sku", {
        location: "westeurope",
        properties: { tenantId: azure.sandbox.env.tenantId, sku: { family: "A", name: "platinum" as "standard" } },
      }),
    );
    expect(badSku).toMatchObject({ statusCode: 400, code: "InvalidRequestContent" });
    expect(badSku.message).toContain("/properties/sku/name");
  });
});

describe("Key Vault vaults and soft delete", () => {
  it("keeps vault names global, holds soft-deleted names, recovers without role assignments, purges", async () => {
    await group(azure.clients, "rg-kv-a");
    await group(azure.clients, "rg-kv-b");
    const created = await vault(azure, "rg-kv-a", "kv-global-1");
    expect(await failure(vault(azure, "rg-kv-b", "kv-global-1"))).toMatchObject({
      statusCode: 409,
      code: "VaultAlreadyExists",
    });

    await grantBroker(azure, created.id!, "2b3c4d5e-0000-4000-8000-000000000001");
    const secrets = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-global-1"));
    await secrets.setSecret("kept", "kept-value-123456");

    await azure.clients.keyVault.vaults.delete("rg-kv-a", "kv-global-1");
    const deleted = await azure.clients.keyVault.vaults.getDeleted("kv-global-1", "westeurope");
    expect(deleted.properties?.vaultId).toBe(created.id);
    expect(await failure(vault(azure, "rg-kv-a", "kv-global-1"))).toMatchObject({
      statusCode: 409,
      code: "ConflictError",
    });
    expect(await failure(vault(azure, "rg-kv-b", "kv-global-1", { createMode: "recover" }))).toMatchObject({
      statusCode: 400,
      code: "SoftDeletedVaultDoesNotExist",
    });

    const recovered = await vault(azure, "rg-kv-a", "kv-global-1", { createMode: "recover" });
    expect(recovered.properties.enableRbacAuthorization).toBe(true);
    // Recovery does not bring role assignments back: the data plane refuses until they are re-made.
    expect(await failure(secrets.getSecret("kept"))).toMatchObject({ statusCode: 403 });
    await grantBroker(azure, created.id!, "2b3c4d5e-0000-4000-8000-000000000001");
    expect((await secrets.getSecret("kept")).value).toBe("kept-value-123456");

    await azure.clients.keyVault.vaults.delete("rg-kv-a", "kv-global-1");
    await azure.clients.keyVault.vaults.purgeDeleted("kv-global-1", "westeurope");
    expect(azure.sandbox.arm.store.findVault("kv-global-1")).toBeUndefined();
    await vault(azure, "rg-kv-b", "kv-global-1");
  });
});

describe("role assignments", () => {
  it("is idempotent by name, refuses the same grant under another name, and needs principalType for fresh identities", async () => {
    await group(azure.clients, "rg-roles");
    const target = await vault(azure, "rg-roles", "kv-roles-1");
    azure.sandbox.setFaults({ graphReplicationDelayMs: 60_000 });
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-roles", "id-fresh", {
      location: "westeurope",
    });
    const body = { roleDefinitionId: roleId(azure.sandbox, ROLES.secretsUser), principalId: identity.principalId! };
    expect(
      await failure(
        azure.clients.authorization.roleAssignments.create(target.id!, "3c4d5e6f-0000-4000-8000-000000000001", body),
      ),
    ).toMatchObject({ statusCode: 400, code: "PrincipalNotFound" });
    await azure.clients.authorization.roleAssignments.create(target.id!, "3c4d5e6f-0000-4000-8000-000000000001", {
      ...body,
      principalType: "ServicePrincipal",
    });
    await azure.clients.authorization.roleAssignments.create(target.id!, "3c4d5e6f-0000-4000-8000-000000000001", {
      ...body,
      principalType: "ServicePrincipal",
    });
    expect(
      await failure(
        azure.clients.authorization.roleAssignments.create(target.id!, "3c4d5e6f-0000-4000-8000-000000000002", {
          ...body,
          principalType: "ServicePrincipal",
        }),
      ),
    ).toMatchObject({ statusCode: 409, code: "RoleAssignmentExists" });
    expect(
      await failure(
        azure.clients.authorization.roleAssignments.create(target.id!, "not-a-guid", {
          ...body,
          principalType: "ServicePrincipal",
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: "InvalidRoleAssignmentId" });
    // Once Entra has replicated, the lookup succeeds without principalType.
    clock.advance(60_000);
    azure.sandbox.setFaults({ graphReplicationDelayMs: 0 });
    await azure.clients.authorization.roleAssignments.create(target.id!, "3c4d5e6f-0000-4000-8000-000000000003", {
      roleDefinitionId: roleId(azure.sandbox, ROLES.secretsOfficer),
      principalId: identity.principalId!,
    });
  });
});

describe("storage keys", () => {
  it("regenerates only the key asked for", async () => {
    await group(azure.clients, "rg-keys");
    await azure.clients.storage.storageAccounts.create("rg-keys", "stkeys1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    const before = await azure.clients.storage.storageAccounts.listKeys("rg-keys", "stkeys1");
    await azure.clients.storage.storageAccounts.regenerateKey("rg-keys", "stkeys1", { keyName: "key2" });
    const after = await azure.clients.storage.storageAccounts.listKeys("rg-keys", "stkeys1");
    expect(after.keys![0].value).toBe(before.keys![0].value);
    expect(after.keys![1].value).not.toBe(before.keys![1].value);
  });
});

describe("Container Apps", () => {
  it("makes a revision when the template changes and not for configuration, and fails provisioning when the identity cannot read the vault", async () => {
    await group(azure.clients, "rg-apps");
    const workspace = await azure.clients.operationalInsights.workspaces.createOrUpdate("rg-apps", "log-apps", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
      retentionInDays: 30,
    });
    const keys = await azure.clients.operationalInsights.sharedKeys.getSharedKeys("rg-apps", "log-apps");
    expect(
      await failure(
        azure.clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait("rg-apps", "cae-apps", {
          location: "westeurope",
          appLogsConfiguration: {
            destination: "log-analytics",
            logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: "wrong" },
          },
        }),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: "ManagedEnvironmentInvalidLogAnalyticsWorkspace",
      message: "The Log Analytics shared key is not valid for the workspace.",
    });
    const environment = await azure.clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait(
      "rg-apps",
      "cae-apps",
      {
        location: "westeurope",
        appLogsConfiguration: {
          destination: "log-analytics",
          logAnalyticsConfiguration: { customerId: workspace.customerId, sharedKey: keys.primarySharedKey },
        },
      },
    );
    const app = (image: string, minReplicas = 1) => ({
      location: "westeurope",
      environmentId: environment.id,
      configuration: { ingress: { external: true, targetPort: 8080 } },
      template: {
        containers: [{ name: "main", image, resources: { cpu: 0.5, memory: "1Gi" } }],
        scale: { minReplicas, maxReplicas: 1 },
      },
    });
    const first = await azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait(
      "rg-apps",
      "app-one",
      app("img:1"),
    );
    const second = await azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait(
      "rg-apps",
      "app-one",
      app("img:2"),
    );
    expect(second.latestRevisionName).not.toBe(first.latestRevisionName);
    const third = await azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps", "app-one", {
      ...app("img:2"),
      configuration: { ingress: { external: false, targetPort: 8080 } },
    });
    expect(third.latestRevisionName).toBe(second.latestRevisionName);
    const revisions = [];
    for await (const revision of azure.clients.containerApps.containerAppsRevisions.listRevisions("rg-apps", "app-one"))
      revisions.push(revision.name);
    expect(revisions.sort()).toEqual([first.latestRevisionName, second.latestRevisionName].sort());

    expect(
      await failure(
        azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps", "app-two", {
          ...app("img:1"),
          template: { containers: [{ name: "main", image: "img:1", resources: { cpu: 0.5, memory: "3Gi" } }] },
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppInvalidResourceTotal" });

    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-apps", {
      location: "westeurope",
    });
    await vault(azure, "rg-apps", "kv-apps-1");
    const withSecret = {
      ...app("img:1"),
      identity: { type: "UserAssigned" as const, userAssignedIdentities: { [identity.id!]: {} } },
      configuration: {
        secrets: [
          {
            name: "token",
            keyVaultUrl: `${keyVaultUrl(azure.sandbox.endpoints, "kv-apps-1")}secrets/token`,
            identity: identity.id,
          },
        ],
      },
    };
    const refused = await failure(
      azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps", "app-kv", withSecret),
    );
    expect(refused.message).toMatch(/no role that can read secrets/);
  });
});

describe("faults", () => {
  it("throttles with 429 + Retry-After from the token bucket, and the SDK honours it", async () => {
    azure.sandbox.setFaults({ throttleScale: 0.01 });
    try {
      await group(azure.clients, "rg-throttle");
      const reads = await Promise.allSettled(
        Array.from({ length: 6 }, () => azure.clients.resources.resourceGroups.get("rg-throttle")),
      );
      const throttled = azure.sandbox.requests().filter((request) => request.status === 429);
      expect(throttled.length).toBeGreaterThan(0);
      // The SDK's throttling policy waited out Retry-After and retried (real seconds: refill is 0.25/s here).
      expect(reads.some((read) => read.status === "fulfilled")).toBe(true);
    } finally {
      azure.sandbox.setFaults({ throttleScale: 1 });
    }
  }, 120_000);

  it("injects transient 500/503/resets at the asked rate, and the SDK's retries get through", async () => {
    azure.sandbox.setFaults({ transientRate: 1, transientKinds: ["503"] });
    expect(
      await failure(azure.clients.resources.resourceGroups.get("rg-throttle").catch((error) => Promise.reject(error))),
    ).toMatchObject({ statusCode: 503 });
    // The log records what the client got: the injected 500 or 503, and 0 only for a cut connection.
    azure.sandbox.setFaults({ transientRate: 0.3, transientKinds: ["500", "503"], seed: 3 });
    let before = azure.sandbox.requests().length;
    for (let i = 0; i < 5; i++) await group(azure.clients, `rg-transient-${i}`);
    const answered = azure.sandbox.requests().slice(before);
    expect(answered.some((request) => request.status === 500 || request.status === 503)).toBe(true);
    expect(answered.some((request) => request.status === 0)).toBe(false);
    azure.sandbox.setFaults({ transientRate: 0.3, transientKinds: ["reset"], seed: 5 });
    before = azure.sandbox.requests().length;
    for (let i = 0; i < 5; i++) await group(azure.clients, `rg-reset-${i}`);
    const cut = azure.sandbox.requests().slice(before);
    expect(cut.some((request) => request.status === 0)).toBe(true);
    expect(cut.some((request) => request.status >= 500)).toBe(false);
    azure.sandbox.setFaults({ transientRate: 0, transientKinds: ["500", "503", "reset"] });
  }, 120_000);

  it("writes the request log, one JSON line per request, with secret values redacted", async () => {
    await group(azure.clients, "rg-log");
    const created = await vault(azure, "rg-log", "kv-log-1");
    await grantBroker(azure, created.id!, "4d5e6f70-0000-4000-8000-000000000001");
    await azure.clients
      .secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-log-1"))
      .setSecret("logged", "super-secret-value-987654");
    const keys = await azure.clients.storage.storageAccounts
      .create("rg-log", "stlog1", { location: "westeurope", sku: { name: "Standard_LRS" }, kind: "StorageV2" })
      .then(() => azure.clients.storage.storageAccounts.listKeys("rg-log", "stlog1"));
    // Responses are not logged, so listKeys alone proves nothing: send the key where the log does
    // record it, under a key name no rule knows, so only the sandbox's registry of issued keys can hide it.
    const key = keys.keys![0].value!;
    await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-log", "id-log", {
      location: "westeurope",
      tags: { copied: key },
    });
    const lines = fs
      .readFileSync(azure.logFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { time: string; method: string; url: string; status: number; body: unknown });
    expect(lines.every((line) => line.time && line.method && line.url && typeof line.status === "number")).toBe(true);
    const secretPut = lines.find(
      (line) => line.method === "PUT" && line.url.startsWith("/secrets/logged") && line.status === 200,
    );
    expect(secretPut?.body).toMatchObject({ value: "[redacted]" });
    const identityPut = lines.find(
      (line) => line.method === "PUT" && line.url.includes("/userAssignedIdentities/id-log"),
    );
    expect(identityPut?.body).toMatchObject({ tags: { copied: "[redacted]" } });
    const text = fs.readFileSync(azure.logFile, "utf8");
    expect(text).not.toContain("super-secret-value-987654");
    expect(text).not.toContain(key);
  });
});

describe("latency, LRO failures and the inspection API", () => {
  it("delays only the resource types asked for, fails LROs at the asked rate, and answers /_sandbox without auth", async () => {
    await group(azure.clients, "rg-slow");
    azure.sandbox.setFaults({ latencyMs: { "Microsoft.ManagedIdentity/userAssignedIdentities": 300 } });
    const started = Date.now();
    await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-slow", "id-slow", {
      location: "westeurope",
    });
    const slow = Date.now() - started;
    azure.sandbox.setFaults({ latencyMs: {} });
    // A lower bound the sandbox guarantees (it waits before answering), not a timing expectation.
    expect(slow).toBeGreaterThanOrEqual(300);

    azure.sandbox.setFaults({ lroFailure: { "Microsoft.OperationalInsights/workspaces": 1 } });
    const failed = await failure(
      azure.clients.operationalInsights.workspaces.createOrUpdate("rg-slow", "log-fails", {
        location: "westeurope",
        sku: { name: "PerGB2018" },
        retentionInDays: 30,
      }),
    );
    azure.sandbox.setFaults({ lroFailure: {} });
    expect(failed.message).toMatch(/failed/i);
    expect(
      (
        azure.sandbox.inspect().arm as { resources: { name: string; properties: { provisioningState: string } }[] }
      ).resources.find((r) => r.name === "log-fails")?.properties.provisioningState,
    ).toBe("Failed");

    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https.request(
        {
          host: "127.0.0.1",
          port: azure.sandbox.port,
          path: "/_sandbox/state",
          servername: "management.sandbox.localhost",
          headers: { host: `management.sandbox.localhost:${azure.sandbox.port}` },
          ca: azure.sandbox.caCertificatePem,
        },
        (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      request.on("error", reject);
      request.end();
    });
    expect(response.status).toBe(200);
    expect(
      JSON.parse(response.body).arm.resources.some((resource: { name: string }) => resource.name === "id-slow"),
    ).toBe(true);
  });

  it("refuses a client that does not trust the sandbox CA: TLS verification stays on", async () => {
    const error = await new Promise<Error>((resolve) => {
      const request = https.request(
        {
          host: "127.0.0.1",
          port: azure.sandbox.port,
          path: "/_sandbox/state",
          servername: "management.sandbox.localhost",
        },
        () => resolve(new Error("connected without the CA")),
      );
      request.on("error", resolve);
      request.end();
    });
    expect(error.message).toMatch(/self-signed|certificate/i);
  });
});
