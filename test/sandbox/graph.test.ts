/**
 * Microsoft Graph through @microsoft/microsoft-graph-client: what the directory refuses (unknown
 * and read-only properties, invalid app role assignments, federated credential rules), what it
 * does on its own (owners, a deleted app's service principal, purging after 30 days), managed
 * identities and users as directory objects, application permissions, and paged lists.
 */
import { describe, expect, it } from "vitest";
import { PageIterator } from "@microsoft/microsoft-graph-client";
import { AzureClients } from "../../src/azure/clients";
import { createGraphClient } from "../../src/azure/graph";
import { SandboxCredential, SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { ManualClock } from "../../src/sandbox/state";
import { BROKER_GRAPH_PERMISSIONS } from "../../src/sandbox/graph/permissions";
import { failure, raw, token } from "./helpers";
import { useSandbox } from "../fixtures/sandbox";

const clock = new ManualClock();
const DEFAULT_ROLE = "00000000-0000-0000-0000-000000000000";
const azure = useSandbox({ clock });

const ref = (id: string) => ({ "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${id}` });

/** A Graph client acting as another principal (granted `permissions`). */
function graphAs(principalId: string, permissions: string[]) {
  azure.sandbox.graph.grantAppPermissions(principalId, permissions);
  return createGraphClient({
    ...azure.sandbox.context(),
    credential: new SandboxCredential(azure.sandbox.env.tenantId, principalId),
  });
}

const group = (name: string, extra: Record<string, unknown> = {}) =>
  azure.graph
    .api("/groups")
    .post({ displayName: name, mailEnabled: false, mailNickname: name, securityEnabled: true, ...extra });

describe("bodies", () => {
  it("assigns ids itself and refuses read-only and unknown properties", async () => {
    expect(
      await failure(
        azure.graph.api("/applications").post({ displayName: "a1", appId: "11111111-2222-3333-4444-555555555555" }),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: "Request_BadRequest",
      message: "Property 'appId' is read-only and cannot be set.",
    });
    expect(
      await failure(
        azure.graph.api("/applications").post({ displayName: "a1", id: "99999999-9999-9999-9999-999999999999" }),
      ),
    ).toMatchObject({ statusCode: 400, message: "Property 'id' is read-only and cannot be set." });
    expect(await failure(azure.graph.api("/applications").post({ displayName: "a1", bogusProperty: 1 }))).toMatchObject(
      {
        statusCode: 400,
        code: "Request_BadRequest",
        message:
          "The property 'bogusProperty' does not exist on type 'Microsoft.DirectoryServices.Application'. Make sure to only use property names that are defined by the type.",
      },
    );
    expect(
      await failure(azure.graph.api("/applications").post({ displayName: "a1", groupMembershipClaims: "Everything" })),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(
        azure.graph.api("/applications").post({ displayName: "a1", identifierUris: ["https://evil.example.com/x"] }),
      ),
    ).toMatchObject({ statusCode: 400, code: "HostNameNotOnVerifiedDomain" });
    const app = await azure.graph.api("/applications").post({ displayName: "a1", identifierUris: ["api://shire-a1"] });
    expect(app.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      await failure(azure.graph.api(`/applications/${app.id}`).patch({ createdDateTime: "2000-01-01T00:00:00Z" })),
    ).toMatchObject({ statusCode: 400 });
    expect(await failure(azure.graph.api(`/applications/${app.id}`).patch({ passwordCredentials: [] }))).toMatchObject({
      statusCode: 400,
    });
    // Repeating a read-only property's current value is a no-op.
    await azure.graph.api(`/applications/${app.id}`).patch({ appId: app.appId, displayName: "a1-renamed" });
    expect((await azure.graph.api(`/applications/${app.id}`).get()).displayName).toBe("a1-renamed");
    expect(
      await failure(
        azure.graph.api("/servicePrincipals").post({ appId: app.appId, id: "88888888-8888-8888-8888-888888888888" }),
      ),
    ).toMatchObject({ statusCode: 400 });
  });

  it("binds members and owners on group create, and refuses what cannot be a member", async () => {
    const app = await azure.graph.api("/applications").post({ displayName: "bind-app" });
    const principal = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    const created = await group("bind-group", {
      "members@odata.bind": [ref(principal.id)["@odata.id"]],
      "owners@odata.bind": [ref(SANDBOX_BROKER_OBJECT_ID)["@odata.id"]],
    });
    expect(created["members@odata.bind"]).toBeUndefined();
    expect(
      (await azure.graph.api(`/groups/${created.id}/members`).get()).value.map((member: { id: string }) => member.id),
    ).toEqual([principal.id]);
    expect(
      (await azure.graph.api(`/groups/${created.id}/owners`).get()).value.map((owner: { id: string }) => owner.id),
    ).toEqual([SANDBOX_BROKER_OBJECT_ID]);
    expect(await failure(azure.graph.api(`/groups/${created.id}/members/$ref`).post(ref(app.id)))).toMatchObject({
      statusCode: 400,
    });
    expect(await failure(azure.graph.api(`/groups/${created.id}/members/$ref`).post(ref(created.id)))).toMatchObject({
      statusCode: 400,
    });
    expect(
      await failure(
        azure.graph
          .api(`/groups/${created.id}/members/$ref`)
          .post({ "@odata.id": `https://evil.example/v1.0/directoryObjects/${principal.id}` }),
      ),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(
        group("bind-missing", { "members@odata.bind": [ref("12345678-1234-4234-8234-123456789012")["@odata.id"]] }),
      ),
    ).toMatchObject({ statusCode: 404 });
  });

  it("addresses objects by alternate key, and keeps uniqueName unique", async () => {
    const app = await azure.graph.api("/applications").post({ displayName: "keyed", uniqueName: "shire-keyed-1" });
    expect((await azure.graph.api("/applications(uniqueName='shire-keyed-1')").get()).id).toBe(app.id);
    expect((await azure.graph.api(`/applications(appId='${app.appId}')`).get()).id).toBe(app.id);
    expect(
      await failure(azure.graph.api("/applications").post({ displayName: "keyed-again", uniqueName: "shire-keyed-1" })),
    ).toMatchObject({ statusCode: 400, code: "Request_MultipleObjectsWithSameKeyValue" });
    const principal = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    expect((await azure.graph.api(`/servicePrincipals(appId='${app.appId}')`).get()).id).toBe(principal.id);
    expect(await failure(azure.graph.api("/applications(uniqueName='nobody')").get())).toMatchObject({
      statusCode: 404,
    });
  });
});

describe("upsert by alternate key", () => {
  const upsert = (path: string, values: Record<string, unknown>, client = azure.graph) =>
    client.api(path).header("Prefer", "create-if-missing").patch(values);
  const groupBody = (name: string) => ({
    displayName: name,
    mailEnabled: false,
    mailNickname: name,
    securityEnabled: true,
  });

  it("creates with 201 and the object, updates with 204, and without the preference a missing key is 404", async () => {
    const created = await upsert("/applications(uniqueName='shire-upsert-1')", { displayName: "upsert-1" });
    expect(created).toMatchObject({ uniqueName: "shire-upsert-1", displayName: "upsert-1" });
    expect(
      (await azure.graph.api(`/applications/${created.id}/owners`).get()).value.map(
        (owner: { id: string }) => owner.id,
      ),
    ).toEqual([SANDBOX_BROKER_OBJECT_ID]);
    // The Graph client gives 204's empty body back as undefined or "".
    expect(await upsert("/applications(uniqueName='shire-upsert-1')", { displayName: "upsert-1b" })).toBeFalsy();
    expect((await azure.graph.api(`/applications/${created.id}`).get()).displayName).toBe("upsert-1b");
    expect(
      await failure(azure.graph.api("/applications(uniqueName='shire-upsert-none')").patch({ displayName: "x" })),
    ).toMatchObject({ statusCode: 404, code: "Request_ResourceNotFound" });
    expect(await failure(upsert("/applications(uniqueName='shire-upsert-2')", { tags: [] }))).toMatchObject({
      statusCode: 400,
      message: "Property 'displayName' is required.",
    });
    expect(
      await failure(upsert("/applications(uniqueName='shire-upsert-3')", { displayName: "x", uniqueName: "other" })),
    ).toMatchObject({ statusCode: 400 });
    // Changing the key of an existing object is refused (uniqueName is immutable).
    expect(
      await failure(upsert("/applications(uniqueName='shire-upsert-1')", { displayName: "y", uniqueName: "renamed" })),
    ).toMatchObject({ statusCode: 400 });

    const principal = await upsert(`/servicePrincipals(appId='${created.appId}')`, { appRoleAssignmentRequired: true });
    expect(principal).toMatchObject({ appId: created.appId, appRoleAssignmentRequired: true });
    expect(
      await upsert(`/servicePrincipals(appId='${created.appId}')`, { appRoleAssignmentRequired: false }),
    ).toBeFalsy();
    expect((await azure.graph.api(`/servicePrincipals/${principal.id}`).get()).appRoleAssignmentRequired).toBe(false);
    expect(await failure(upsert("/servicePrincipals(appId='12345678-1234-4234-8234-123456789012')", {}))).toMatchObject(
      { statusCode: 400 },
    );

    const made = await upsert("/groups(uniqueName='shire-upsert-g')", groupBody("upsert-g"));
    expect(made).toMatchObject({ uniqueName: "shire-upsert-g", securityEnabled: true });
    expect(await upsert("/groups(uniqueName='shire-upsert-g')", { description: "again" })).toBeFalsy();
    expect((await azure.graph.api(`/groups/${made.id}`).get()).description).toBe("again");
    // No owners unless the body binds them (Graph does not make an app-only caller the owner).
    expect((await azure.graph.api(`/groups/${made.id}/owners`).get()).value).toEqual([]);
    expect(await failure(upsert("/groups(uniqueName='shire-upsert-h')", { displayName: "h" }))).toMatchObject({
      statusCode: 400,
      message: "Property 'mailNickname' is required.",
    });
  });

  it("finds an object created a moment ago that reads cannot see yet, so a repeated create updates it", async () => {
    azure.sandbox.setFaults({ graphReplicationDelayMs: 60_000 });
    try {
      const first = await upsert("/applications(uniqueName='shire-upsert-lag')", { displayName: "lag" });
      expect(await failure(azure.graph.api("/applications(uniqueName='shire-upsert-lag')").get())).toMatchObject({
        statusCode: 404,
      });
      expect(await upsert("/applications(uniqueName='shire-upsert-lag')", { displayName: "lag-2" })).toBeFalsy();
      await upsert("/groups(uniqueName='shire-upsert-lag-g')", groupBody("lag-g"));
      expect(await upsert("/groups(uniqueName='shire-upsert-lag-g')", groupBody("lag-g"))).toBeFalsy();
      // A service principal needs its application replicated first.
      expect(await failure(upsert(`/servicePrincipals(appId='${first.appId}')`, {}))).toMatchObject({
        statusCode: 400,
        message: expect.stringContaining("does not reference a valid application"),
      });
      clock.advance(60_000);
      const apps = (
        azure.sandbox.inspect().graph as { kind: string; uniqueName?: string; displayName?: string }[]
      ).filter((object) => object.kind === "application" && object.uniqueName === "shire-upsert-lag");
      expect(apps.map((app) => app.displayName)).toEqual(["lag-2"]);
    } finally {
      azure.sandbox.setFaults({ graphReplicationDelayMs: 0 });
    }
  });

  it("needs the documented permissions: OwnedBy upserts its own apps, groups need Group.ReadWrite.All", async () => {
    const other = graphAs("00000000-0000-4000-8000-0000000000e5", ["Application.ReadWrite.All", "Group.Create"]);
    await upsert("/applications(uniqueName='shire-upsert-foreign')", { displayName: "foreign" }, other);
    expect(
      await failure(upsert("/applications(uniqueName='shire-upsert-foreign')", { displayName: "mine now" })),
    ).toMatchObject({ statusCode: 403, code: "Authorization_RequestDenied" });
    expect(await failure(upsert("/groups(uniqueName='shire-upsert-gc')", groupBody("gc"), other))).toMatchObject({
      statusCode: 403,
    });
    // Group.Create alone still creates with POST.
    expect((await other.api("/groups").post(groupBody("gc-post"))).displayName).toBe("gc-post");
  });

  it("keeps a deleted object's uniqueName until it is restored or purged", async () => {
    const app = await upsert("/applications(uniqueName='shire-upsert-del')", { displayName: "del" });
    await azure.graph.api(`/applications/${app.id}`).delete();
    expect(await failure(azure.graph.api("/applications(uniqueName='shire-upsert-del')").get())).toMatchObject({
      statusCode: 404,
    });
    expect(await failure(upsert("/applications(uniqueName='shire-upsert-del')", { displayName: "del" }))).toMatchObject(
      { statusCode: 400, code: "Request_MultipleObjectsWithSameKeyValue" },
    );
    const deleted = await azure.graph
      .api("/directory/deletedItems/microsoft.graph.application")
      .filter("uniqueName eq 'shire-upsert-del'")
      .select("id,uniqueName")
      .get();
    expect(deleted.value).toEqual([expect.objectContaining({ id: app.id, uniqueName: "shire-upsert-del" })]);
    await azure.graph.api(`/directory/deletedItems/${app.id}/restore`).post({});
    expect(await upsert("/applications(uniqueName='shire-upsert-del')", { displayName: "del-back" })).toBeFalsy();
    expect((await azure.graph.api(`/applications/${app.id}`).get()).displayName).toBe("del-back");

    const doomed = await upsert("/groups(uniqueName='shire-upsert-del-g')", groupBody("del-g"));
    await azure.graph.api(`/groups/${doomed.id}`).delete();
    expect(await failure(upsert("/groups(uniqueName='shire-upsert-del-g')", groupBody("del-g")))).toMatchObject({
      statusCode: 400,
      code: "Request_MultipleObjectsWithSameKeyValue",
    });
    await azure.graph.api(`/directory/deletedItems/${doomed.id}`).delete();
    expect((await upsert("/groups(uniqueName='shire-upsert-del-g')", groupBody("del-g"))).id).not.toBe(doomed.id);
  });
});

describe("app role assignments", () => {
  it("accepts only the app's declared roles (or the default one when it declares none), principals that are users, groups or service principals, and no duplicates", async () => {
    const roleId = "aaaaaaaa-0000-4000-8000-000000000001";
    const app = await azure.graph.api("/applications").post({
      displayName: "roles-app",
      appRoles: [
        { id: roleId, allowedMemberTypes: ["User"], displayName: "r", value: "r", isEnabled: true, description: "r" },
      ],
    });
    const resource = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    expect(resource.appRoles.map((role: { id: string }) => role.id)).toEqual([roleId]);
    const members = await group("roles-group");
    const assign = (body: Record<string, unknown>) =>
      azure.graph
        .api(`/servicePrincipals/${resource.id}/appRoleAssignedTo`)
        .post({ principalId: members.id, resourceId: resource.id, ...body });
    expect(await failure(assign({ appRoleId: "12345678-1234-1234-1234-123456789012" }))).toMatchObject({
      statusCode: 400,
      message: `Permission being assigned was not found on application '${app.appId}'.`,
    });
    expect(await failure(assign({ appRoleId: DEFAULT_ROLE }))).toMatchObject({ statusCode: 400 });
    expect(await failure(assign({ appRoleId: roleId, principalId: app.id }))).toMatchObject({ statusCode: 404 });
    await assign({ appRoleId: roleId });
    expect(await failure(assign({ appRoleId: roleId }))).toMatchObject({
      statusCode: 400,
      code: "Request_BadRequest",
      message: "Permission being assigned already exists on the object",
    });
    expect(
      await failure(
        azure.graph
          .api(`/groups/${members.id}/appRoleAssignments`)
          .post({ principalId: resource.id, resourceId: resource.id, appRoleId: roleId }),
      ),
    ).toMatchObject({ statusCode: 400 });

    const plain = await azure.graph.api("/applications").post({ displayName: "plain-app" });
    const plainPrincipal = await azure.graph.api("/servicePrincipals").post({ appId: plain.appId });
    const created = await azure.graph
      .api(`/groups/${members.id}/appRoleAssignments`)
      .post({ principalId: members.id, resourceId: plainPrincipal.id, appRoleId: DEFAULT_ROLE });
    expect(created).toMatchObject({ principalType: "Group", principalId: members.id, resourceId: plainPrincipal.id });
  });
});

describe("lifecycle", () => {
  it("deletes an application's service principal with it; restoring the app does not restore the principal", async () => {
    const app = await azure.graph.api("/applications").post({ displayName: "doomed-app" });
    const principal = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    await azure.graph.api(`/applications/${app.id}`).delete();
    expect(await failure(azure.graph.api(`/servicePrincipals/${principal.id}`).get())).toMatchObject({
      statusCode: 404,
    });
    expect(azure.sandbox.env.directory.lookup(principal.id)).toBeUndefined();
    await azure.graph.api(`/directory/deletedItems/${app.id}/restore`).post({});
    expect(await failure(azure.graph.api(`/servicePrincipals/${principal.id}`).get())).toMatchObject({
      statusCode: 404,
    });
    const fresh = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    expect(fresh.id).not.toBe(principal.id);
  });

  it("purges deleted objects after 30 days, when they stop counting toward the quota", async () => {
    const app = await azure.graph.api("/applications").post({ displayName: "expiring-app" });
    await azure.graph.api(`/applications/${app.id}`).delete();
    const held = () => (azure.sandbox.inspect().graph as { id: string }[]).some((object) => object.id === app.id);
    expect((await azure.graph.api(`/directory/deletedItems/${app.id}`).get()).id).toBe(app.id);
    expect(held()).toBe(true);
    clock.advance(30 * 86_400_000);
    expect(await failure(azure.graph.api(`/directory/deletedItems/${app.id}`).get())).toMatchObject({
      statusCode: 404,
    });
    expect(held()).toBe(false);
  });

  it("counts a principal's created objects toward its quota, deleted ones too; createdObjects lists the live ones, paged", async () => {
    // A principal of its own (a second broker), so the count is only what this test creates.
    const ownerApp = await azure.graph.api("/applications").post({ displayName: "quota-owner" });
    const owner = await azure.graph.api("/servicePrincipals").post({ appId: ownerApp.appId });
    const as = graphAs(owner.id, BROKER_GRAPH_PERMISSIONS);
    azure.sandbox.setFaults({ directoryObjectQuota: 4 });
    try {
      const app = await as.api("/applications").post({ displayName: "quota-app" });
      await as.api("/servicePrincipals").post({ appId: app.appId });
      const doomed = await as
        .api("/groups")
        .post({ displayName: "quota-g1", mailEnabled: false, mailNickname: "quota-g1", securityEnabled: true });
      await as.api(`/groups/${doomed.id}`).delete();
      const created = (await as.api(`/servicePrincipals/${owner.id}/createdObjects`).get()) as {
        value: { id: string; "@odata.type": string }[];
      };
      expect(created.value.map((object) => object["@odata.type"]).sort()).toEqual([
        "#microsoft.graph.application",
        "#microsoft.graph.servicePrincipal",
      ]);
      // Paged like any directory collection.
      const first = await as.api(`/servicePrincipals/${owner.id}/createdObjects`).select("id").top(1).get();
      expect(first.value).toHaveLength(1);
      expect((await as.api(first["@odata.nextLink"]).get()).value).toHaveLength(1);
      // Three created, one of them deleted but restorable: the fourth still fits, a fifth does not.
      await as
        .api("/groups")
        .post({ displayName: "quota-g2", mailEnabled: false, mailNickname: "quota-g2", securityEnabled: true });
      expect(
        await failure(
          as
            .api("/groups")
            .post({ displayName: "quota-g3", mailEnabled: false, mailNickname: "quota-g3", securityEnabled: true }),
        ),
      ).toMatchObject({ statusCode: 400, code: "Directory_QuotaExceeded" });
      expect(await failure(as.api("/applications").post({ displayName: "quota-app2" }))).toMatchObject({
        statusCode: 400,
        code: "Directory_QuotaExceeded",
      });
      // Purged from deleted items, the group stops counting.
      await as.api(`/directory/deletedItems/${doomed.id}`).delete();
      await as.api("/applications").post({ displayName: "quota-app3" });
    } finally {
      azure.sandbox.setFaults({ directoryObjectQuota: undefined });
    }
  });

  it("keeps federated credentials to Entra's rules: one audience, unique issuer and subject, URL-safe names, 20 at most", async () => {
    const app = await azure.graph.api("/applications").post({ displayName: "fic-app" });
    const path = `/applications/${app.id}/federatedIdentityCredentials`;
    const credential = {
      name: "gw",
      issuer: "https://login.microsoftonline.com/t/v2.0",
      subject: "s0",
      audiences: ["api://AzureADTokenExchange"],
    };
    await azure.graph.api(path).post(credential);
    expect(await failure(azure.graph.api(path).post({ ...credential, name: "gw2" }))).toMatchObject({
      statusCode: 400,
      code: "InvalidFederatedIdentityCredentialValue",
    });
    expect(
      await failure(azure.graph.api(path).post({ ...credential, name: "bad name/slash", subject: "s1" })),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(azure.graph.api(path).post({ ...credential, name: "x".repeat(121), subject: "s1" })),
    ).toMatchObject({
      statusCode: 400,
    });
    expect(
      await failure(azure.graph.api(path).post({ ...credential, name: "two", subject: "s1", audiences: ["a", "b"] })),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(
        azure.graph.api(path).post({ ...credential, name: "long", subject: "s1", audiences: ["a".repeat(601)] }),
      ),
    ).toMatchObject({ statusCode: 400 });
    for (let i = 1; i < 20; i++) await azure.graph.api(path).post({ ...credential, name: `n${i}`, subject: `s${i}` });
    expect(await failure(azure.graph.api(path).post({ ...credential, name: "n20", subject: "s20" }))).toMatchObject({
      statusCode: 400,
    });
    expect((await azure.graph.api(path).get()).value).toHaveLength(20);
  });
});

describe("managed identities and users", () => {
  it("shows a user-assigned identity as a ManagedIdentity service principal that can join groups and be assigned", async () => {
    const clients = new AzureClients(azure.sandbox.context());
    await clients.resources.resourceGroups.createOrUpdate("rg-graph", { location: "westeurope" });
    const identity = await clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-graph", "id-graph", {
      location: "westeurope",
    });
    const principal = await azure.graph.api(`/servicePrincipals/${identity.principalId}`).get();
    expect(principal).toMatchObject({
      id: identity.principalId,
      appId: identity.clientId,
      servicePrincipalType: "ManagedIdentity",
      displayName: "id-graph",
    });
    expect(
      (await azure.graph.api("/servicePrincipals").filter(`appId eq '${identity.clientId}'`).get()).value,
    ).toHaveLength(1);
    const members = await group("mi-group");
    await azure.graph.api(`/groups/${members.id}/members/$ref`).post(ref(identity.principalId!));
    expect((await azure.graph.api(`/groups/${members.id}/members`).get()).value[0].servicePrincipalType).toBe(
      "ManagedIdentity",
    );
  });

  it("lets tests create users; reading them needs User.Read.All; assigning one to an app works", async () => {
    const created = JSON.parse(
      (
        await raw(azure.sandbox, "management", "POST", "/_sandbox/graph/users", {
          body: { displayName: "Ada Operator", userPrincipalName: "ada@shiresandbox.onmicrosoft.com" },
        })
      ).body,
    ) as { id: string };
    expect(await failure(azure.graph.api(`/users/${created.id}`).get())).toMatchObject({
      statusCode: 403,
      code: "Authorization_RequestDenied",
      message: "Insufficient privileges to complete the operation.",
    });
    const reader = graphAs("00000000-0000-4000-8000-0000000000e1", ["User.Read.All"]);
    expect((await reader.api(`/users/${created.id}`).get()).userPrincipalName).toBe("ada@shiresandbox.onmicrosoft.com");
    const app = await azure.graph.api("/applications").post({ displayName: "user-app" });
    const resource = await azure.graph.api("/servicePrincipals").post({ appId: app.appId });
    const assignment = await azure.graph
      .api(`/servicePrincipals/${resource.id}/appRoleAssignedTo`)
      .post({ principalId: created.id, resourceId: resource.id, appRoleId: DEFAULT_ROLE });
    expect(assignment).toMatchObject({ principalType: "User", principalDisplayName: "Ada Operator" });
  });
});

describe("application permissions", () => {
  it("needs the permission an operation lists, and Application.ReadWrite.OwnedBy writes only owned apps", async () => {
    const other = graphAs("00000000-0000-4000-8000-0000000000e2", ["Application.ReadWrite.All"]);
    const foreign = await other.api("/applications").post({ displayName: "not-the-brokers" });
    const mine = await azure.graph.api("/applications").post({ displayName: "the-brokers" });
    expect(
      (await azure.graph.api(`/applications/${mine.id}/owners`).get()).value.map((owner: { id: string }) => owner.id),
    ).toEqual([SANDBOX_BROKER_OBJECT_ID]);
    // OwnedBy reads every app but writes its own.
    expect((await azure.graph.api(`/applications/${foreign.id}`).get()).displayName).toBe("not-the-brokers");
    expect(
      await failure(azure.graph.api(`/applications/${foreign.id}`).patch({ displayName: "taken-over" })),
    ).toMatchObject({
      statusCode: 403,
      code: "Authorization_RequestDenied",
    });
    expect(await failure(azure.graph.api(`/applications/${foreign.id}/addPassword`).post({}))).toMatchObject({
      statusCode: 403,
    });
    expect(await failure(azure.graph.api("/servicePrincipals").post({ appId: foreign.appId }))).toMatchObject({
      statusCode: 403,
    });
    await azure.graph.api(`/applications/${mine.id}`).patch({ displayName: "the-brokers-2" });

    const nothing = graphAs("00000000-0000-4000-8000-0000000000e3", []);
    expect(await failure(nothing.api("/applications").get())).toMatchObject({ statusCode: 403 });
    expect(
      await failure(
        nothing.api("/groups").post({ displayName: "g", mailEnabled: false, mailNickname: "g", securityEnabled: true }),
      ),
    ).toMatchObject({ statusCode: 403 });
    // AppRoleAssignment.ReadWrite.All alone cannot assign: reading the service principal needs an Application permission too.
    const assigner = graphAs("00000000-0000-4000-8000-0000000000e4", ["AppRoleAssignment.ReadWrite.All"]);
    const resource = await azure.graph.api("/servicePrincipals").post({ appId: mine.appId });
    const members = await group("perm-group");
    expect(
      await failure(
        assigner
          .api(`/servicePrincipals/${resource.id}/appRoleAssignedTo`)
          .post({ principalId: members.id, resourceId: resource.id, appRoleId: DEFAULT_ROLE }),
      ),
    ).toMatchObject({ statusCode: 403 });
    azure.sandbox.graph.grantAppPermissions("00000000-0000-4000-8000-0000000000e4", [
      "AppRoleAssignment.ReadWrite.All",
      "Application.Read.All",
    ]);
    await assigner
      .api(`/servicePrincipals/${resource.id}/appRoleAssignedTo`)
      .post({ principalId: members.id, resourceId: resource.id, appRoleId: DEFAULT_ROLE });
    expect(azure.sandbox.graph.appPermissions(SANDBOX_BROKER_OBJECT_ID).sort()).toEqual(
      [...BROKER_GRAPH_PERMISSIONS].sort(),
    );
  });
});

describe("queries", () => {
  it("pages 100 by default with @odata.nextLink the client's PageIterator follows; $top is 1..999", async () => {
    for (let i = 0; i < 120; i++) await group(`bulk${i}`);
    const first = await azure.graph.api("/groups").filter("startswith(displayName,'bulk')").get();
    expect(first.value).toHaveLength(100);
    expect(first["@odata.nextLink"]).toMatch(/^https:\/\/graph\.sandbox\.localhost:\d+\/v1\.0\/groups\?/);
    const all: unknown[] = [];
    await new PageIterator(azure.graph, first, (item) => {
      all.push(item);
      return true;
    }).iterate();
    expect(all).toHaveLength(120);
    expect((await azure.graph.api("/groups").filter("startswith(displayName,'bulk')").top(7).get()).value).toHaveLength(
      7,
    );
    expect(await failure(azure.graph.api("/groups").top(5000).get())).toMatchObject({ statusCode: 400 });
  });

  it("selects case-insensitively, filters only supported properties, counts only with ConsistencyLevel: eventual", async () => {
    await azure.graph.api("/applications").post({ displayName: "query-app", notes: "n" });
    const selected = (
      await azure.graph.api("/applications").filter("displayName eq 'query-app'").select("DisplayName,ID").get()
    ).value[0];
    expect(Object.keys(selected).sort()).toEqual(["@odata.type", "displayName", "id"]);
    expect(await failure(azure.graph.api("/applications").select("nope").get())).toMatchObject({ statusCode: 400 });
    expect(await failure(azure.graph.api("/applications").filter("notes eq 'n'").get())).toMatchObject({
      statusCode: 400,
      code: "Request_UnsupportedQuery",
    });
    const headers = { authorization: `Bearer ${token(azure.sandbox, { aud: azure.sandbox.endpoints.graph })}` };
    expect((await raw(azure.sandbox, "graph", "GET", "/v1.0/applications?$count=true", { headers })).status).toBe(400);
    const counted = JSON.parse(
      (
        await raw(azure.sandbox, "graph", "GET", "/v1.0/applications?$count=true", {
          headers: { ...headers, consistencylevel: "eventual" },
        })
      ).body,
    ) as { "@odata.count": number };
    expect(counted["@odata.count"]).toBeGreaterThan(0);
  });
});
