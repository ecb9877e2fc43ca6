/** Key Vault secrets, Microsoft Graph and blob static website through their official clients. */
import { beforeAll, describe, expect, it } from "vitest";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { createGraphClient } from "../../src/azure/graph";
import { createBlobServiceClient } from "../../src/azure/blob";
import { SandboxCredential, SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { ManualClock } from "../../src/sandbox/state";
import { BROKER_GRAPH_PERMISSIONS } from "../../src/sandbox/graph/permissions";
import { useSandbox } from "../fixtures/sandbox";
import { failure, grantBroker, ROLES, vault } from "./helpers";

const clock = new ManualClock();

const azure = useSandbox({ clock });
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-data", { location: "westeurope" });
});

describe("Key Vault secrets data plane", () => {
  it("challenges first, then enforces RBAC, keeps versions, soft deletes, recovers and purges", async () => {
    const created = await vault(azure, "rg-data", "kv-data-1");
    const secrets = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-data-1"));
    const denied = await failure(secrets.setSecret("s1", "first-value-0001"));
    expect(denied.statusCode).toBe(403);
    const requests = azure.sandbox.requests().filter((request) => request.url.startsWith("/secrets/s1"));
    // Challenge-based auth: the client's first request carries no token and gets 401.
    expect(requests[0].status).toBe(401);

    await grantBroker(azure, created.id!, "5e6f7081-0000-4000-8000-000000000001");
    const v1 = await secrets.setSecret("s1", "first-value-0001");
    const v2 = await secrets.setSecret("s1", "second-value-0002");
    expect(v1.properties.version).not.toBe(v2.properties.version);
    expect((await secrets.getSecret("s1")).value).toBe("second-value-0002");
    expect((await secrets.getSecret("s1", { version: v1.properties.version })).value).toBe("first-value-0001");
    const versions = [];
    for await (const version of secrets.listPropertiesOfSecretVersions("s1")) versions.push(version.version);
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());

    const deletion = await secrets.beginDeleteSecret("s1");
    await deletion.pollUntilDone();
    expect(await failure(secrets.getSecret("s1"))).toMatchObject({ statusCode: 404, code: "SecretNotFound" });
    expect(await failure(secrets.setSecret("s1", "third-value-0003"))).toMatchObject({ statusCode: 409 });
    await (await secrets.beginRecoverDeletedSecret("s1")).pollUntilDone();
    expect((await secrets.getSecret("s1")).value).toBe("second-value-0002");
    await (await secrets.beginDeleteSecret("s1")).pollUntilDone();
    await secrets.purgeDeletedSecret("s1");
    await secrets.setSecret("s1", "fresh-value-0004");
    expect((await secrets.getSecret("s1")).value).toBe("fresh-value-0004");

    // A Secrets User may read but not write.
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-data", "id-reader", {
      location: "westeurope",
    });
    expect(identity.principalId).toBeTruthy();
    expect(azure.sandbox.keyVault.readSecretValue("kv-data-1", "s1")).toBe("fresh-value-0004");
  });

  it("makes a soft-deleted vault's secrets unreachable", async () => {
    await vault(azure, "rg-data", "kv-data-2");
    await azure.clients.keyVault.vaults.delete("rg-data", "kv-data-2");
    const error = await failure(
      azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-data-2")).getSecret("any"),
    );
    expect(error.statusCode).toBe(404);
  });
});

describe("Microsoft Graph", () => {
  it("creates an app with a service principal, passwords and federated credentials", async () => {
    const graph = createGraphClient(azure.sandbox.context());
    const app = await graph.api("/applications").post({ displayName: "shire-graph-test" });
    const principal = await graph.api("/servicePrincipals").post({ appId: app.appId });
    expect(await failure(graph.api("/servicePrincipals").post({ appId: app.appId }))).toMatchObject({
      statusCode: 409,
    });
    await graph.api(`/servicePrincipals/${principal.id}`).patch({ appRoleAssignmentRequired: true });
    expect((await graph.api(`/servicePrincipals/${principal.id}`).get()).appRoleAssignmentRequired).toBe(true);

    const password = await graph
      .api(`/applications/${app.id}/addPassword`)
      .post({ passwordCredential: { displayName: "shire" } });
    expect(password.secretText).toBeTruthy();
    const stored = await graph.api(`/applications/${app.id}`).get();
    expect(stored.passwordCredentials).toHaveLength(1);
    expect(stored.passwordCredentials[0].secretText).toBeNull();
    await graph.api(`/applications/${app.id}/removePassword`).post({ keyId: password.keyId });
    expect((await graph.api(`/applications/${app.id}`).get()).passwordCredentials).toHaveLength(0);

    const credential = {
      name: "gateway",
      issuer: "https://login.microsoftonline.com/t/v2.0",
      subject: "00000000-0000-0000-0000-000000000001",
      audiences: ["api://AzureADTokenExchange"],
    };
    await graph.api(`/applications/${app.id}/federatedIdentityCredentials`).post(credential);
    expect(
      await failure(graph.api(`/applications/${app.id}/federatedIdentityCredentials`).post(credential)),
    ).toMatchObject({ statusCode: 409 });
  });

  it("groups: members, assignment to an app, deleted items restore and purge", async () => {
    const graph = createGraphClient(azure.sandbox.context());
    const group = await graph.api("/groups").post({
      displayName: "shire-graph-group",
      mailEnabled: false,
      mailNickname: "shire-graph-group",
      securityEnabled: true,
    });
    expect(
      await failure(
        graph
          .api("/groups")
          .post({ displayName: "mail", mailEnabled: true, mailNickname: "mail", securityEnabled: false }),
      ),
    ).toMatchObject({ statusCode: 400 });
    const app = await graph.api("/applications").post({ displayName: "shire-assign" });
    const principal = await graph.api("/servicePrincipals").post({ appId: app.appId });
    await graph
      .api(`/groups/${group.id}/members/$ref`)
      .post({ "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${principal.id}` });
    expect(
      await failure(
        graph
          .api(`/groups/${group.id}/members/$ref`)
          .post({ "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${principal.id}` }),
      ),
    ).toMatchObject({ statusCode: 400 });
    await graph
      .api(`/servicePrincipals/${principal.id}/appRoleAssignedTo`)
      .post({ principalId: group.id, resourceId: principal.id, appRoleId: "00000000-0000-0000-0000-000000000000" });
    expect((await graph.api(`/servicePrincipals/${principal.id}/appRoleAssignedTo`).get()).value).toHaveLength(1);

    // Deleting a group needs Group.ReadWrite.All: Group.Create and GroupMember.ReadWrite.All are not enough.
    const creatorId = "00000000-0000-4000-8000-0000000000c1";
    azure.sandbox.graph.grantAppPermissions(creatorId, ["Group.Create", "GroupMember.ReadWrite.All"]);
    const creator = createGraphClient({
      ...azure.sandbox.context(),
      credential: new SandboxCredential(azure.sandbox.env.tenantId, creatorId),
    });
    expect(await failure(creator.api(`/groups/${group.id}`).delete())).toMatchObject({
      statusCode: 403,
      code: "Authorization_RequestDenied",
    });
    expect(azure.sandbox.graph.appPermissions(SANDBOX_BROKER_OBJECT_ID)).toEqual(
      expect.arrayContaining(BROKER_GRAPH_PERMISSIONS),
    );
    await graph.api(`/groups/${group.id}`).delete();
    expect(await failure(graph.api(`/groups/${group.id}`).get())).toMatchObject({ statusCode: 404 });
    await graph.api(`/directory/deletedItems/${group.id}/restore`).post({});
    expect((await graph.api(`/groups/${group.id}`).get()).displayName).toBe("shire-graph-group");
    await graph.api(`/groups/${group.id}`).delete();
    await graph.api(`/directory/deletedItems/${group.id}`).delete();
    expect(await failure(graph.api(`/directory/deletedItems/${group.id}`).get())).toMatchObject({ statusCode: 404 });
    azure.sandbox.graph.grantAppPermissions(SANDBOX_BROKER_OBJECT_ID, BROKER_GRAPH_PERMISSIONS);
  });

  it("hides new objects for the replication delay: 404 right after create, found later", async () => {
    const graph = createGraphClient(azure.sandbox.context());
    azure.sandbox.setFaults({ graphReplicationDelayMs: 10_000 });
    try {
      const app = await graph.api("/applications").post({ displayName: "shire-replication" });
      expect(app.id).toBeTruthy();
      expect(await failure(graph.api(`/applications/${app.id}`).get())).toMatchObject({
        statusCode: 404,
        code: "Request_ResourceNotFound",
      });
      expect(await failure(graph.api("/servicePrincipals").post({ appId: app.appId }))).toMatchObject({
        statusCode: 400,
      });
      clock.advance(10_000);
      expect((await graph.api(`/applications/${app.id}`).get()).displayName).toBe("shire-replication");
    } finally {
      azure.sandbox.setFaults({ graphReplicationDelayMs: 0 });
    }
  });
});

describe("blob static website", () => {
  it("needs a Storage Blob Data role for content, then enables the website and serves what was uploaded", async () => {
    const account = await azure.clients.storage.storageAccounts.create("rg-data", "stdataweb1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    const blob = createBlobServiceClient(azure.sandbox.context(), "stdataweb1");
    // Service properties are Actions: the broker's subscription Contributor covers them; blob content is not.
    await blob.setProperties({ staticWebsite: { enabled: true, indexDocument: "index.html" } });
    expect((await blob.getProperties()).staticWebsite).toMatchObject({ enabled: true, indexDocument: "index.html" });
    const page = blob.getContainerClient("$web").getBlockBlobClient("index.html");
    expect(await failure(page.upload("<h1>tab</h1>", 12))).toMatchObject({
      statusCode: 403,
      code: "AuthorizationPermissionMismatch",
    });
    await grantBroker(azure, account.id!, "6f708192-0000-4000-8000-000000000001", ROLES.blobDataContributor);
    await page.upload("<h1>tab</h1>", 12, { blobHTTPHeaders: { blobContentType: "text/html" } });
    expect((await page.downloadToBuffer()).toString()).toBe("<h1>tab</h1>");
    expect((await page.getProperties()).contentType).toBe("text/html");
  });
});
