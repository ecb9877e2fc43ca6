import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox, type Sandbox } from "../../src/sandbox";
import { AzureClients } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { createGraphClient } from "../../src/azure/graph";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";

let sandbox: Sandbox;
let clients: AzureClients;
beforeAll(async () => {
  sandbox = await startSandbox();
  clients = new AzureClients(sandbox.context());
});
afterAll(async () => sandbox?.stop());

describe("smoke", () => {
  it("does the basics", async () => {
    const rg = await clients.resources.resourceGroups.createOrUpdate("claw-smoke", {
      location: "westeurope",
      tags: { a: "b" },
    });
    expect(rg.name).toBe("claw-smoke");
    const identity = await clients.managedIdentity.userAssignedIdentities.createOrUpdate("claw-smoke", "id-smoke", {
      location: "westeurope",
    });
    expect(identity.principalId).toBeTruthy();
    const vault = await clients.keyVault.vaults.createOrUpdate("claw-smoke", "kv-smoke-1", {
      location: "westeurope",
      properties: {
        tenantId: sandbox.env.tenantId,
        sku: { family: "A", name: "standard" },
        enableRbacAuthorization: true,
      },
    });
    expect(vault.properties.vaultUri).toContain("kv-smoke-1.vault.sandbox.localhost");
    const scope = vault.id!;
    await clients.authorization.roleAssignments.create(scope, "11111111-1111-4111-8111-111111111111", {
      roleDefinitionId: `/subscriptions/${sandbox.env.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/b86a8fe4-44ce-4948-aee5-eccb2c155cd7`,
      principalId: SANDBOX_BROKER_OBJECT_ID,
      principalType: "ServicePrincipal",
    });
    const secrets = clients.secrets(keyVaultUrl(sandbox.endpoints, "kv-smoke-1"));
    await secrets.setSecret("one", "value-1-abcdef");
    expect((await secrets.getSecret("one")).value).toBe("value-1-abcdef");
    const account = await clients.storage.storageAccounts.create("claw-smoke", "stsmoke1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    expect(account.primaryEndpoints?.blob).toContain("stsmoke1");
    const keys = await clients.storage.storageAccounts.listKeys("claw-smoke", "stsmoke1");
    expect(keys.keys?.length).toBe(2);
    const graph = createGraphClient(sandbox.context());
    const app = await graph.api("/applications").post({ displayName: "shire-smoke" });
    expect(app.appId).toBeTruthy();
    const found = await graph.api("/applications").filter("displayName eq 'shire-smoke'").get();
    expect(found.value).toHaveLength(1);
    const ws = await clients.operationalInsights.workspaces.createOrUpdate("claw-smoke", "log-smoke", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
      retentionInDays: 30,
    });
    expect(ws.customerId).toBeTruthy();
    const shared = await clients.operationalInsights.sharedKeys.getSharedKeys("claw-smoke", "log-smoke");
    expect(shared.primarySharedKey).toBeTruthy();
    const env = await clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait("claw-smoke", "cae-smoke", {
      location: "westeurope",
      appLogsConfiguration: {
        destination: "log-analytics",
        logAnalyticsConfiguration: { customerId: ws.customerId, sharedKey: shared.primarySharedKey },
      },
    });
    expect(env.provisioningState).toBe("Succeeded");
    await clients.resources.resourceGroups.delete("claw-smoke");
    expect(sandbox.arm.store.deletedVaults.has("kv-smoke-1")).toBe(true);
  });
});
