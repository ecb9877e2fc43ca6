import { describe, expect, it } from "vitest";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { createGraphClient } from "../../src/azure/graph";
import { useSandbox } from "../fixtures/sandbox";
import { grantBroker, vault } from "./helpers";

const azure = useSandbox();

describe("smoke", () => {
  it("does the basics", async () => {
    const rg = await azure.clients.resources.resourceGroups.createOrUpdate("claw-smoke", {
      location: "westeurope",
      tags: { a: "b" },
    });
    expect(rg.name).toBe("claw-smoke");
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate(
      "claw-smoke",
      "id-smoke",
      {
        location: "westeurope",
      },
    );
    expect(identity.principalId).toBeTruthy();
    const created = await vault(azure, "claw-smoke", "kv-smoke-1");
    expect(created.properties.vaultUri).toContain("kv-smoke-1.vault.sandbox.localhost");
    await grantBroker(azure, created.id!, "11111111-1111-4111-8111-111111111111");
    const secrets = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-smoke-1"));
    await secrets.setSecret("one", "value-1-abcdef");
    expect((await secrets.getSecret("one")).value).toBe("value-1-abcdef");
    const account = await azure.clients.storage.storageAccounts.create("claw-smoke", "stsmoke1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    expect(account.primaryEndpoints?.blob).toContain("stsmoke1");
    const keys = await azure.clients.storage.storageAccounts.listKeys("claw-smoke", "stsmoke1");
    expect(keys.keys?.length).toBe(2);
    const graph = createGraphClient(azure.sandbox.context());
    const app = await graph.api("/applications").post({ displayName: "shire-smoke" });
    expect(app.appId).toBeTruthy();
    const found = await graph.api("/applications").filter("displayName eq 'shire-smoke'").get();
    expect(found.value).toHaveLength(1);
    const ws = await azure.clients.operationalInsights.workspaces.createOrUpdate("claw-smoke", "log-smoke", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
      retentionInDays: 30,
    });
    expect(ws.customerId).toBeTruthy();
    const shared = await azure.clients.operationalInsights.sharedKeys.getSharedKeys("claw-smoke", "log-smoke");
    expect(shared.primarySharedKey).toBeTruthy();
    const env = await azure.clients.containerApps.managedEnvironments.beginCreateOrUpdateAndWait(
      "claw-smoke",
      "cae-smoke",
      {
        location: "westeurope",
        appLogsConfiguration: {
          destination: "log-analytics",
          logAnalyticsConfiguration: { customerId: ws.customerId, sharedKey: shared.primarySharedKey },
        },
      },
    );
    expect(env.provisioningState).toBe("Succeeded");
    await azure.clients.resources.resourceGroups.delete("claw-smoke");
    expect(azure.sandbox.arm.store.deletedVaults.has("kv-smoke-1")).toBe(true);
  });
});
