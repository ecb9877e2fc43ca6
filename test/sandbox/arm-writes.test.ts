/**
 * What ARM and its providers refuse on write, through the SDK where the app uses it and raw HTTPS
 * where the SDK cannot send the request: PATCH checked like a PUT (405 where a type has none),
 * locations, values fixed at creation, PUT as a full replace, read-only values never stored.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { API, armRaw, errorBody, ids, itWithSchemas } from "./arm-helpers";
import { ROLES, failure, group, vault } from "./helpers";

const clock = new ManualClock();

const azure = useSandbox({ clock });
beforeAll(async () => {
  await group(azure.clients, "rg-writes");
});

describe("PATCH", () => {
  it("refuses through vaults.update what a PUT refuses: purge protection cannot be turned off", async () => {
    await vault(azure, "rg-writes", "kv-patch-1", { enablePurgeProtection: true });
    const error = await failure(
      azure.clients.keyVault.vaults.update("rg-writes", "kv-patch-1", { properties: { enablePurgeProtection: false } }),
    );
    expect(error).toMatchObject({ statusCode: 400, code: "BadRequest" });
    expect(error.message).toContain("enablePurgeProtection");
    expect((await azure.clients.keyVault.vaults.get("rg-writes", "kv-patch-1")).properties.enablePurgeProtection).toBe(
      true,
    );
    // What a PATCH leaves out stays: tags change, RBAC mode and the rest are kept.
    const patched = await azure.clients.keyVault.vaults.update("rg-writes", "kv-patch-1", { tags: { owner: "ops" } });
    expect(patched).toMatchObject({
      tags: { owner: "ops" },
      properties: { enableRbacAuthorization: true, enablePurgeProtection: true },
    });
  });

  it("replaces the tags a PATCH sends whole (a tag left out is gone), as ARM's resource providers do", async () => {
    await vault(azure, "rg-writes", "kv-patch-tags");
    await azure.clients.keyVault.vaults.update("rg-writes", "kv-patch-tags", { tags: { owner: "ops", team: "red" } });
    const patched = await azure.clients.keyVault.vaults.update("rg-writes", "kv-patch-tags", {
      tags: { team: "blue" },
    });
    expect(patched.tags).toEqual({ team: "blue" });
    // A PATCH without tags keeps them.
    const untouched = await azure.clients.keyVault.vaults.update("rg-writes", "kv-patch-tags", {
      properties: { enabledForDeployment: false },
    });
    expect(untouched.tags).toEqual({ team: "blue" });
  });

  it("refuses soft delete off and a changed retention, and never stores read-only values a PATCH sends", async () => {
    const { resource } = ids(azure.sandbox);
    const created = await vault(azure, "rg-writes", "kv-patch-2");
    const path = `${resource("rg-writes", "Microsoft.KeyVault", "vaults", "kv-patch-2")}?api-version=${API.keyVault}`;
    expect(
      errorBody(await armRaw(azure.sandbox, "PATCH", path, { properties: { enableSoftDelete: false } })),
    ).toMatchObject({
      status: 400,
      code: "BadRequest",
    });
    const retention = errorBody(
      await armRaw(azure.sandbox, "PATCH", path, { properties: { softDeleteRetentionInDays: 30 } }),
    );
    expect(retention).toMatchObject({ status: 400, code: "BadRequest" });
    expect(retention.message).toContain("softDeleteRetentionInDays");
    const ignored = await armRaw(azure.sandbox, "PATCH", path, {
      properties: { vaultUri: "https://evil.example/", provisioningState: "Failed" },
    });
    expect(ignored.status).toBe(200);
    expect(ignored.body.properties).toMatchObject({
      vaultUri: created.properties.vaultUri,
      provisioningState: "Succeeded",
      softDeleteRetentionInDays: 90,
    });
  });

  itWithSchemas("validates a storage account PATCH against the schema", async () => {
    await azure.clients.storage.storageAccounts.create("rg-writes", "stpatch0", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    const path = `${ids(azure.sandbox).resource("rg-writes", "Microsoft.Storage", "storageAccounts", "stpatch0")}?api-version=${API.storage}`;
    const bogus = errorBody(await armRaw(azure.sandbox, "PATCH", path, { sku: { name: "Bogus" } }));
    expect(bogus).toMatchObject({ status: 400, code: "InvalidRequestContent" });
    expect(bogus.message).toContain("/sku/name");
    expect(
      errorBody(await armRaw(azure.sandbox, "PATCH", path, { properties: { minimumTlsVersion: "TLS9_9" } })),
    ).toMatchObject({ status: 400, code: "InvalidRequestContent" });
  });

  it("validates a storage account PATCH against the account's rules", async () => {
    await azure.clients.storage.storageAccounts.create("rg-writes", "stpatch1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    const path = `${ids(azure.sandbox).resource("rg-writes", "Microsoft.Storage", "storageAccounts", "stpatch1")}?api-version=${API.storage}`;
    expect(errorBody(await armRaw(azure.sandbox, "PATCH", path, { kind: "BlobStorage" }))).toEqual({
      status: 400,
      code: "AccountPropertyCannotBeUpdated",
      message: "The property 'kind' was specified in the input, but it cannot be updated.",
    });
    expect(errorBody(await armRaw(azure.sandbox, "PATCH", path, { sku: { name: "Premium_LRS" } }))).toEqual({
      status: 400,
      code: "InvalidValuesForRequestParameters",
      message: "Values for request parameters are invalid: sku.",
    });
    const account = await azure.clients.storage.storageAccounts.update("rg-writes", "stpatch1", {
      minimumTlsVersion: "TLS1_2",
      sku: { name: "Standard_GRS" },
    });
    expect(account).toMatchObject({ minimumTlsVersion: "TLS1_2", sku: { name: "Standard_GRS" }, kind: "StorageV2" });
  });

  it("validates a file share PATCH: quota range, protocol fixed at creation", async () => {
    await azure.clients.storage.storageAccounts.create("rg-writes", "stpatch2", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    await azure.clients.storage.fileShares.create("rg-writes", "stpatch2", "share1", { shareQuota: 100 });
    const path = `${ids(azure.sandbox).resource("rg-writes", "Microsoft.Storage", "storageAccounts", "stpatch2", "fileServices", "default", "shares", "share1")}?api-version=${API.storage}`;
    expect(errorBody(await armRaw(azure.sandbox, "PATCH", path, { properties: { shareQuota: -5 } }))).toMatchObject({
      status: 400,
    });
    expect(
      errorBody(await armRaw(azure.sandbox, "PATCH", path, { properties: { enabledProtocols: "NFS" } })),
    ).toMatchObject({
      status: 400,
      code: "InvalidRequestPropertyValue",
    });
    expect(
      await azure.clients.storage.fileShares.update("rg-writes", "stpatch2", "share1", { shareQuota: 200 }),
    ).toMatchObject({ shareQuota: 200, enabledProtocols: "SMB" });
    expect((await azure.clients.storage.fileShares.get("rg-writes", "stpatch2", "share1")).shareQuota).toBe(200);
  });

  it("answers 405 for types whose REST spec has no PATCH", async () => {
    const created = await vault(azure, "rg-writes", "kv-patch-3");
    const assignment = `${created.id}/providers/Microsoft.Authorization/roleAssignments/7a8b9c0d-0000-4000-8000-000000000001`;
    await azure.clients.authorization.roleAssignments.create(created.id!, "7a8b9c0d-0000-4000-8000-000000000001", {
      roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsUser),
      principalId: SANDBOX_BROKER_OBJECT_ID,
      principalType: "ServicePrincipal",
    });
    expect(
      errorBody(
        await armRaw(azure.sandbox, "PATCH", `${assignment}?api-version=${API.authorization}`, {
          properties: { description: "x" },
        }),
      ),
    ).toMatchObject({ status: 405, code: "MethodNotAllowed" });
  });
});

describe("locations", () => {
  it("refuses moving a resource to another region by PUT, and regions a type is not offered in", async () => {
    await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-writes", "id-where", {
      location: "westeurope",
    });
    expect(
      await failure(
        azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-writes", "id-where", {
          location: "eastus",
        }),
      ),
    ).toMatchObject({
      statusCode: 409,
      code: "InvalidResourceLocation",
      message:
        "The resource 'id-where' already exists in location 'westeurope' in resource group 'rg-writes'. A resource with the same name cannot be created in location 'eastus'. Please select a new resource name.",
    });
    expect(
      await failure(
        vault(azure, "rg-writes", "kv-where-1", {}).then(() =>
          azure.clients.keyVault.vaults.createOrUpdate("rg-writes", "kv-where-1", {
            location: "eastus",
            properties: { tenantId: azure.sandbox.env.tenantId, sku: { family: "A", name: "standard" } },
          }),
        ),
      ),
    ).toMatchObject({ statusCode: 409, code: "InvalidResourceLocation" });
    const nowhere = await failure(
      azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-writes", "id-nowhere", {
        location: "marsnorth",
      }),
    );
    expect(nowhere).toMatchObject({ statusCode: 400, code: "LocationNotAvailableForResourceType" });
    expect(nowhere.message).toContain("'Microsoft.ManagedIdentity/userAssignedIdentities'");
    expect(
      await failure(azure.clients.resources.resourceGroups.createOrUpdate("rg-nowhere", { location: "marsnorth" })),
    ).toMatchObject({ statusCode: 400, code: "LocationNotAvailableForResourceGroup" });
    // Display names are the same region.
    await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-writes", "id-where", {
      location: "West Europe",
    });
  });
});

describe("values fixed at creation", () => {
  it("storage: kind (only Storage -> StorageV2), FileStorage only on Premium, the SKU's tier", async () => {
    const path = (name: string) =>
      `${ids(azure.sandbox).resource("rg-writes", "Microsoft.Storage", "storageAccounts", name)}?api-version=${API.storage}`;
    expect(
      errorBody(
        await armRaw(azure.sandbox, "PUT", path("stfilestd1"), {
          location: "westeurope",
          sku: { name: "Standard_LRS" },
          kind: "FileStorage",
        }),
      ),
    ).toEqual({
      status: 400,
      code: "InvalidValuesForRequestParameters",
      message: "Values for request parameters are invalid: kind, sku.",
    });
    expect(
      (
        await armRaw(azure.sandbox, "PUT", path("stfileprem1"), {
          location: "westeurope",
          sku: { name: "Premium_LRS" },
          kind: "FileStorage",
        })
      ).status,
    ).toBe(202);
    await azure.clients.storage.storageAccounts.create("rg-writes", "stkind1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    expect(
      errorBody(
        await armRaw(azure.sandbox, "PUT", path("stkind1"), {
          location: "westeurope",
          sku: { name: "Standard_LRS" },
          kind: "BlobStorage",
        }),
      ),
    ).toEqual({
      status: 400,
      code: "InvalidValuesForRequestParameters",
      message: "Values for request parameters are invalid: kind.",
    });
    await azure.clients.storage.storageAccounts.create("rg-writes", "stkind2", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "Storage",
    });
    expect((await armRaw(azure.sandbox, "PATCH", path("stkind2"), { kind: "StorageV2" })).body.kind).toBe("StorageV2");
  });

  it("Key Vault: retention set once, purge protection never false, tenant only the subscription's", async () => {
    await vault(azure, "rg-writes", "kv-fixed-1", { softDeleteRetentionInDays: 90 });
    expect(await failure(vault(azure, "rg-writes", "kv-fixed-1", { softDeleteRetentionInDays: 7 }))).toMatchObject({
      statusCode: 400,
      code: "BadRequest",
    });
    expect(await failure(vault(azure, "rg-writes", "kv-fixed-2", { enablePurgeProtection: false }))).toMatchObject({
      statusCode: 400,
      code: "BadRequest",
      message: expect.stringContaining("enablePurgeProtection"),
    });
    expect(
      await failure(vault(azure, "rg-writes", "kv-fixed-3", { tenantId: "11111111-1111-4111-8111-111111111111" })),
    ).toMatchObject({ statusCode: 400, code: "BadRequest" });
  });

  it("Cognitive Services: kind and custom subdomain", async () => {
    expect(
      await failure(
        azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-writes", "ai-nonsense", {
          location: "westeurope",
          kind: "Nonsense",
          sku: { name: "S0" },
        }),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: "InvalidApiSetId",
      message: "The account type 'Nonsense' is either invalid or unavailable in given region.",
    });
    await azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-writes", "ai-fixed-1", {
      location: "westeurope",
      kind: "AIServices",
      sku: { name: "S0" },
      properties: { customSubDomainName: "ai-fixed-1" },
    });
    expect(
      await failure(
        azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-writes", "ai-fixed-1", {
          location: "westeurope",
          kind: "OpenAI",
          sku: { name: "S0" },
          properties: { customSubDomainName: "ai-fixed-1" },
        }),
      ),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(
        azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-writes", "ai-fixed-1", {
          location: "westeurope",
          kind: "AIServices",
          sku: { name: "S0" },
          properties: { customSubDomainName: "ai-other" },
        }),
      ),
    ).toMatchObject({ statusCode: 400 });
  });
});

describe("PUT replaces", () => {
  it("Key Vault: a re-PUT without RBAC mode or access policies turns RBAC off and wipes the policies", async () => {
    const policy = {
      tenantId: azure.sandbox.env.tenantId,
      objectId: SANDBOX_BROKER_OBJECT_ID,
      permissions: { secrets: ["get" as const] },
    };
    await vault(azure, "rg-writes", "kv-replace-1", {
      enableRbacAuthorization: false,
      accessPolicies: [policy],
    });
    await vault(azure, "rg-writes", "kv-replace-1", { enableRbacAuthorization: true });
    const replaced = await azure.clients.keyVault.vaults.createOrUpdate("rg-writes", "kv-replace-1", {
      location: "westeurope",
      properties: { tenantId: azure.sandbox.env.tenantId, sku: { family: "A", name: "standard" } },
    });
    expect(replaced.properties.enableRbacAuthorization).toBe(false);
    expect(replaced.properties.accessPolicies ?? []).toEqual([]);
  });

  it("Log Analytics and Application Insights: read-only ids are Azure's, whatever the body says", async () => {
    const { resource } = ids(azure.sandbox);
    const first = await azure.clients.operationalInsights.workspaces.createOrUpdate("rg-writes", "log-readonly-1", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
    });
    const copy = await armRaw(
      azure.sandbox,
      "PUT",
      `${resource("rg-writes", "Microsoft.OperationalInsights", "workspaces", "log-readonly-2")}?api-version=${API.workspaces}`,
      { location: "westeurope", properties: { customerId: first.customerId } },
    );
    expect(copy.body.properties.customerId).not.toBe(first.customerId);
    const retention = await azure.clients.operationalInsights.workspaces.createOrUpdate("rg-writes", "log-readonly-1", {
      location: "westeurope",
      sku: { name: "PerGB2018" },
      retentionInDays: 60,
    });
    expect(retention.customerId).toBe(first.customerId);

    const component = resource("rg-writes", "Microsoft.Insights", "components", "appi-readonly");
    const body = (extra: Record<string, unknown>) => ({
      location: "westeurope",
      kind: "web",
      properties: { Application_Type: "web", WorkspaceResourceId: first.id, ...extra },
    });
    const created = await armRaw(
      azure.sandbox,
      "PUT",
      `${component}?api-version=${API.components}`,
      body({ InstrumentationKey: "my-own-key", AppId: "my-own-app" }),
    );
    expect(created.status).toBe(200);
    expect(created.body.properties.InstrumentationKey).not.toBe("my-own-key");
    expect(created.body.properties.AppId).not.toBe("my-own-app");
    const again = await armRaw(
      azure.sandbox,
      "PUT",
      `${component}?api-version=${API.components}`,
      body({ InstrumentationKey: "other" }),
    );
    expect(again.body.properties.InstrumentationKey).toBe(created.body.properties.InstrumentationKey);
    // Components_UpdateTags: a PATCH changes tags only.
    const tagged = await armRaw(azure.sandbox, "PATCH", `${component}?api-version=${API.components}`, {
      tags: { t: "1" },
      properties: { Application_Type: "other" },
    });
    expect(tagged.body).toMatchObject({ tags: { t: "1" }, properties: { Application_Type: "web" } });
  });

  itWithSchemas("validates a Log Analytics body against the schema of the api-version it was sent with", async () => {
    const path = (version: string) =>
      `${ids(azure.sandbox).resource("rg-writes", "Microsoft.OperationalInsights", "workspaces", "log-versioned")}?api-version=${version}`;
    // `replication` exists in 2025-07-01 only; sent with 2022-10-01 its wrong shape is not checked by the newer schema.
    expect(
      errorBody(
        await armRaw(azure.sandbox, "PUT", path(API.workspaces), {
          location: "westeurope",
          properties: { replication: { enabled: "yes" } },
        }),
      ),
    ).toMatchObject({ status: 400, code: "InvalidRequestContent" });
    expect(
      (
        await armRaw(azure.sandbox, "PUT", path(API.insights), {
          location: "westeurope",
          properties: { replication: { enabled: "yes" } },
        })
      ).status,
    ).toBe(201);
    expect(
      errorBody(
        await armRaw(azure.sandbox, "PUT", path(API.insights), {
          location: "westeurope",
          properties: { retentionInDays: "thirty" },
        }),
      ),
    ).toMatchObject({ status: 400, code: "InvalidRequestContent" });
  });
});

describe("required properties", () => {
  itWithSchemas(
    "requires `properties` where the REST spec does (vaults), not where only the generated schema listed it (AI accounts)",
    async () => {
      const { resource } = ids(azure.sandbox);
      const account = await armRaw(
        azure.sandbox,
        "PUT",
        `${resource("rg-writes", "Microsoft.CognitiveServices", "accounts", "ai-bare-1")}?api-version=${API.cognitive}`,
        { location: "westeurope", kind: "AIServices", sku: { name: "S0" } },
      );
      expect(account.status).toBe(201);
      const bare = errorBody(
        await armRaw(
          azure.sandbox,
          "PUT",
          `${resource("rg-writes", "Microsoft.KeyVault", "vaults", "kv-bare-1")}?api-version=${API.keyVault}`,
          { location: "westeurope" },
        ),
      );
      expect(bare).toMatchObject({ status: 400, code: "InvalidRequestContent" });
      expect(bare.message).toContain("'properties'");
    },
  );
});

describe("requests ARM itself refuses", () => {
  it("a malformed api-version, and GET on an action", async () => {
    const { group: rg, resource } = ids(azure.sandbox);
    expect(errorBody(await armRaw(azure.sandbox, "GET", `${rg("rg-writes")}?api-version=banana`))).toMatchObject({
      status: 400,
      code: "InvalidApiVersionParameter",
    });
    await azure.clients.storage.storageAccounts.create("rg-writes", "stactions1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    expect(
      errorBody(
        await armRaw(
          azure.sandbox,
          "GET",
          `${resource("rg-writes", "Microsoft.Storage", "storageAccounts", "stactions1")}/listKeys?api-version=${API.storage}`,
        ),
      ),
    ).toMatchObject({ status: 405, code: "MethodNotAllowed" });
  });
});
