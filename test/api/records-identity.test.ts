/**
 * Operation records on the app's storage through the identity-based AzureWebJobsStorage form
 * (`__accountName`, no keys), against the sandbox's blob service with Entra auth and RBAC: the
 * broker's identity needs Storage Blob Data Contributor there, as on Azure.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { OperationStore } from "../../src/operations/records";
import { createBlobServiceClient } from "../../src/azure/blob";
import { StorageSharedKeyCredential } from "@azure/storage-blob";
import { ROLE_IDS } from "../../src/model/names";
import { roleId } from "../sandbox/helpers";
import { useSandbox } from "../fixtures/sandbox";

const azure = useSandbox();
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-broker", { location: "westeurope" });
});

async function appStorage(name: string): Promise<string> {
  const account = await azure.clients.storage.storageAccounts.create("rg-broker", name, {
    location: "westeurope",
    sku: { name: "Standard_LRS" },
    kind: "StorageV2",
  });
  return account.id!;
}

const identityEnv = (accountName: string): NodeJS.ProcessEnv => ({
  SHIRE_CLOUD: "Sandbox",
  SHIRE_SANDBOX_PORT: String(azure.sandbox.port),
  SHIRE_SANDBOX_CA_FILE: azure.sandbox.caFile,
  AzureWebJobsStorage__accountName: accountName,
});

describe("identity-based AzureWebJobsStorage", () => {
  it("keeps records with the broker's Entra identity once it holds Storage Blob Data Contributor", async () => {
    const scope = await appStorage("stbrokerrec1");
    const store = OperationStore.fromEnv(identityEnv("stbrokerrec1"));
    // No data role yet: the blob service refuses, and the error says why.
    await expect(store.listSlugs()).rejects.toMatchObject({ statusCode: 403, code: "AuthorizationPermissionMismatch" });

    await azure.clients.authorization.roleAssignments.create(scope, "7a000000-0000-4000-8000-000000000001", {
      roleDefinitionId: roleId(azure.sandbox, ROLE_IDS.storageBlobDataContributor),
      principalId: SANDBOX_BROKER_OBJECT_ID,
      principalType: "ServicePrincipal",
    });
    const now = new Date().toISOString();
    await store.createOperation({
      id: "demo.20261203T100000Z.0a0b0c0d",
      slug: "demo",
      kind: "install",
      actor: "alice",
      status: "running",
      message: "Install started.",
      createdAt: now,
      updatedAt: now,
      request: { slug: "demo" },
      steps: [],
      instanceId: "slug-demo",
    });
    expect((await store.getOperation("demo.20261203T100000Z.0a0b0c0d"))?.actor).toBe("alice");
    // The record really is in that account's `shire-operations` container: read it with a key.
    const keys = await azure.clients.storage.storageAccounts.listKeys("rg-broker", "stbrokerrec1");
    const keyed = createBlobServiceClient(
      azure.sandbox.context(),
      "stbrokerrec1",
      new StorageSharedKeyCredential("stbrokerrec1", keys.keys![0].value!),
    );
    const stored = await keyed
      .getContainerClient("shire-operations")
      .getBlockBlobClient("operations/demo/demo.20261203T100000Z.0a0b0c0d.json")
      .downloadToBuffer();
    expect(JSON.parse(stored.toString())).toMatchObject({ slug: "demo", actor: "alice" });
  });

  it("is the same store for the same setting, and NotConfigured without any AzureWebJobsStorage form", () => {
    expect(OperationStore.fromEnv(identityEnv("stbrokerrec2"))).toBe(
      OperationStore.fromEnv(identityEnv("stbrokerrec2")),
    );
    expect(() => OperationStore.fromEnv({ SHIRE_CLOUD: "Sandbox" })).toThrow(/AzureWebJobsStorage/);
    expect(() =>
      OperationStore.fromEnv({ AzureWebJobsStorage__accountName: "stx", SHIRE_CLOUD: "AzureCloud" }),
    ).toThrow(/AZURE_SUBSCRIPTION_ID/);
  });
});
