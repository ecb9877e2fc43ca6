/** Provider rules: role assignments (ids, names, inheritance in lists), soft-deleted vaults and AI accounts, bots. */
import { beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { API, armRaw, errorBody, ids } from "./arm-helpers";
import { ROLES, failure, group, vault } from "./helpers";

const clock = new ManualClock();
const DAY = 86_400_000;

const azure = useSandbox({ clock });
beforeAll(async () => {
  await group(azure.clients, "rg-providers");
  await group(azure.clients, "rg-providers-2");
});

describe("role assignments", () => {
  const principal = "5f0e1d2c-0000-4000-8000-0000000000c1";
  const assign = (scope: string, name: string, properties: Record<string, unknown>) =>
    armRaw(
      azure.sandbox,
      "PUT",
      `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=${API.authorization}`,
      { properties: { principalType: "ServicePrincipal", ...properties } },
    );

  it("refuses a principal id that is not a GUID and role definition ids ARM would not complete or move", async () => {
    const scope = ids(azure.sandbox).group("rg-providers");
    const role = ids(azure.sandbox).role(ROLES.secretsUser);
    expect(
      errorBody(
        await assign(scope, "5f0e1d2c-0000-4000-8000-000000000101", { roleDefinitionId: role, principalId: "abc" }),
      ),
    ).toEqual({
      status: 400,
      code: "InvalidPrincipalId",
      message: "The Principal ID 'abc' is not valid. Principal ID must be a GUID.",
    });
    expect(
      errorBody(
        await assign(scope, "5f0e1d2c-0000-4000-8000-000000000102", {
          roleDefinitionId: ROLES.secretsUser,
          principalId: principal,
        }),
      ),
    ).toMatchObject({ status: 400, code: "InvalidRoleDefinitionId" });
    const otherSubscription = `/subscriptions/99999999-0000-4000-8000-000000000001/providers/Microsoft.Authorization/roleDefinitions/${ROLES.secretsUser}`;
    expect(
      errorBody(
        await assign(scope, "5f0e1d2c-0000-4000-8000-000000000103", {
          roleDefinitionId: otherSubscription,
          principalId: principal,
        }),
      ),
    ).toMatchObject({ status: 400, code: "InvalidRoleDefinitionId" });
    // The id is stored as sent, not rewritten.
    const tenantForm = `/providers/Microsoft.Authorization/roleDefinitions/${ROLES.secretsUser}`;
    expect(
      (
        await assign(scope, "5f0e1d2c-0000-4000-8000-000000000104", {
          roleDefinitionId: tenantForm,
          principalId: principal,
        })
      ).body.properties.roleDefinitionId,
    ).toBe(tenantForm);
  });

  it("keeps names unique across scopes, refuses changing principal or role, and returns the assignment on DELETE", async () => {
    const rg = ids(azure.sandbox).group("rg-providers");
    const target = await vault(azure, "rg-providers", "kv-roles-a");
    const role = ids(azure.sandbox).role(ROLES.secretsUser);
    const name = "5f0e1d2c-0000-4000-8000-000000000201";
    expect((await assign(target.id!, name, { roleDefinitionId: role, principalId: principal })).status).toBe(201);
    const update = {
      status: 400,
      code: "RoleAssignmentUpdateNotPermitted",
      message: "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
    };
    expect(
      errorBody(
        await assign(rg, name, {
          roleDefinitionId: ids(azure.sandbox).role(ROLES.contributor),
          principalId: principal,
        }),
      ),
    ).toEqual(update);
    expect(
      errorBody(
        await assign(target.id!, name, { roleDefinitionId: role, principalId: "5f0e1d2c-0000-4000-8000-0000000000c2" }),
      ),
    ).toEqual(update);
    const deleted = await armRaw(
      azure.sandbox,
      "DELETE",
      `${target.id}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=${API.authorization}`,
    );
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ name, properties: { principalId: principal, scope: target.id } });
    expect(
      (
        await armRaw(
          azure.sandbox,
          "DELETE",
          `${target.id}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=${API.authorization}`,
        )
      ).status,
    ).toBe(204);
  });

  it("lists what applies at a scope: inherited with atScope(), not what is below; refuses filters it does not know", async () => {
    const rg = ids(azure.sandbox).group("rg-providers-2");
    const target = await vault(azure, "rg-providers-2", "kv-roles-b");
    const listing = "5f0e1d2c-0000-4000-8000-0000000000c3";
    await assign(rg, "5f0e1d2c-0000-4000-8000-000000000301", {
      roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsUser),
      principalId: listing,
    });
    await assign(target.id!, "5f0e1d2c-0000-4000-8000-000000000302", {
      roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsOfficer),
      principalId: listing,
    });
    // Only this principal's: the sandbox's own grants to the broker are inherited everywhere too.
    const names = async (scope: string, filter?: string) => {
      const found = [];
      for await (const assignment of azure.clients.authorization.roleAssignments.listForScope(
        scope,
        filter ? { filter } : {},
      ))
        if (assignment.principalId === listing) found.push(assignment.name);
      return found.sort();
    };
    expect(await names(target.id!, "atScope()")).toEqual([
      "5f0e1d2c-0000-4000-8000-000000000301",
      "5f0e1d2c-0000-4000-8000-000000000302",
    ]);
    expect(await names(rg, "atScope()")).toEqual(["5f0e1d2c-0000-4000-8000-000000000301"]);
    expect(await names(rg, `principalId eq '${listing}'`)).toEqual([
      "5f0e1d2c-0000-4000-8000-000000000301",
      "5f0e1d2c-0000-4000-8000-000000000302",
    ]);
    expect(await failure(names(rg, "garbage"))).toMatchObject({ statusCode: 400, code: "UnsupportedQuery" });
  });
});

describe("soft-deleted vaults", () => {
  it("purges a deleted vault at the end of its retention, and only under its own location", async () => {
    await vault(azure, "rg-providers", "kv-retained-1", { softDeleteRetentionInDays: 7 });
    await azure.clients.keyVault.vaults.delete("rg-providers", "kv-retained-1");
    expect(await failure(azure.clients.keyVault.vaults.purgeDeleted("kv-retained-1", "eastus"))).toMatchObject({
      statusCode: 404,
      code: "DeletedVaultNotFound",
    });
    expect(await failure(azure.clients.keyVault.vaults.getDeleted("kv-retained-1", "eastus"))).toMatchObject({
      statusCode: 404,
    });
    clock.advance(6 * DAY);
    expect((await azure.clients.keyVault.vaults.getDeleted("kv-retained-1", "westeurope")).name).toBe("kv-retained-1");
    clock.advance(DAY);
    expect(await failure(azure.clients.keyVault.vaults.getDeleted("kv-retained-1", "westeurope"))).toMatchObject({
      statusCode: 404,
    });
    // The name is free again.
    await vault(azure, "rg-providers-2", "kv-retained-1");
  });
});

describe("Cognitive Services soft delete", () => {
  it("holds a deleted account's name until it is restored or purged", async () => {
    const body = {
      location: "westeurope",
      kind: "AIServices",
      sku: { name: "S0" },
      properties: { customSubDomainName: "ai-soft-1" },
    };
    await azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-providers", "ai-soft-1", body);
    await azure.clients.cognitiveServices.accounts.beginDeleteAndWait("rg-providers", "ai-soft-1");
    expect(
      await failure(azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-providers", "ai-soft-1", body)),
    ).toMatchObject({ statusCode: 409, code: "FlagMustBeSetForRestore" });
    const deleted = [];
    for await (const account of azure.clients.cognitiveServices.deletedAccounts.list()) deleted.push(account.name);
    expect(deleted).toContain("ai-soft-1");
    const restored = await azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-providers", "ai-soft-1", {
      ...body,
      properties: { ...body.properties, restore: true },
    });
    expect(restored.properties?.customSubDomainName).toBe("ai-soft-1");
    await azure.clients.cognitiveServices.accounts.beginDeleteAndWait("rg-providers", "ai-soft-1");
    await azure.clients.cognitiveServices.deletedAccounts.beginPurgeAndWait("westeurope", "rg-providers", "ai-soft-1");
    await azure.clients.cognitiveServices.accounts.beginCreateAndWait("rg-providers", "ai-soft-1", body);
  });
});

describe("bots", () => {
  const bot = (extra: Record<string, unknown> = {}) => ({
    location: "global",
    kind: "azurebot" as const,
    sku: { name: "F0" as const },
    properties: {
      displayName: "b",
      endpoint: "https://x.example/api/messages",
      msaAppId: "8a9b0c1d-0000-4000-8000-000000000001",
      msaAppType: "SingleTenant",
      msaAppTenantId: azure.sandbox.env.tenantId,
      ...extra,
    },
  });

  it("keeps bot names global and checks the Microsoft App's identity fields", async () => {
    await azure.clients.botService.bots.create("rg-providers", "bot-global-1", bot() as never);
    expect(
      await failure(azure.clients.botService.bots.create("rg-providers-2", "bot-global-1", bot() as never)),
    ).toMatchObject({ statusCode: 409, code: "BotNameNotAvailable" });
    expect(
      await failure(
        azure.clients.botService.bots.create("rg-providers", "bot-guid", bot({ msaAppId: "not-a-guid" }) as never),
      ),
    ).toMatchObject({ statusCode: 400, code: "InvalidBotData" });
    expect(
      await failure(
        azure.clients.botService.bots.create(
          "rg-providers",
          "bot-msi",
          bot({ msaAppType: "UserAssignedMSI" }) as never,
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "InvalidBotData" });
    expect(
      await failure(
        azure.clients.botService.bots.create("rg-providers", "bot-tenant", bot({ msaAppTenantId: undefined }) as never),
      ),
    ).toMatchObject({ statusCode: 400, code: "InvalidBotData" });
  });

  it("takes a UserAssignedMSI bot only on an existing identity whose client id is its app id, with a tenant", async () => {
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate(
      "rg-providers",
      "id-bot",
      { location: "westeurope" },
    );
    const msi = (extra: Record<string, unknown> = {}) =>
      bot({
        msaAppType: "UserAssignedMSI",
        msaAppId: identity.clientId,
        msaAppMSIResourceId: identity.id,
        ...extra,
      }) as never;
    const refused = async (name: string, extra: Record<string, unknown>) =>
      failure(azure.clients.botService.bots.create("rg-providers", name, msi(extra)));
    // Another GUID than the identity's client id (e.g. a principal id, or an app's id).
    expect(await refused("bot-msi-other", { msaAppId: identity.principalId })).toMatchObject({
      statusCode: 400,
      code: "InvalidBotData",
      message: expect.stringContaining(`not the client id of the user-assigned identity id-bot`),
    });
    expect(
      await refused("bot-msi-gone", { msaAppMSIResourceId: identity.id!.replace(/id-bot$/, "id-missing") }),
    ).toMatchObject({ statusCode: 400, code: "InvalidBotData" });
    expect(await refused("bot-msi-tenant", { msaAppTenantId: "contoso" })).toMatchObject({
      statusCode: 400,
      code: "InvalidBotData",
    });
    const created = await azure.clients.botService.bots.create("rg-providers", "bot-msi-ok", msi());
    expect(created.properties).toMatchObject({
      msaAppType: "UserAssignedMSI",
      msaAppId: identity.clientId,
      msaAppMSIResourceId: identity.id,
    });
    // The same again is fine (a converge); the identity's client id in other letter case too.
    await azure.clients.botService.bots.create(
      "rg-providers",
      "bot-msi-ok",
      msi({ msaAppId: identity.clientId!.toUpperCase() }),
    );
  });

  it("refuses to change an existing bot's app type (the sandbox's conservative assumption)", async () => {
    await azure.clients.botService.bots.create("rg-providers", "bot-type", bot() as never);
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate(
      "rg-providers",
      "id-bot-type",
      { location: "westeurope" },
    );
    const toMsi = bot({
      msaAppType: "UserAssignedMSI",
      msaAppId: identity.clientId,
      msaAppMSIResourceId: identity.id,
    }) as never;
    expect(await failure(azure.clients.botService.bots.create("rg-providers", "bot-type", toMsi))).toMatchObject({
      statusCode: 400,
      code: "InvalidBotData",
      message: expect.stringMatching(
        /SingleTenant bot: its msaAppType is set when the bot is created and cannot change to UserAssignedMSI/,
      ),
    });
    // Through PATCH too.
    expect(
      await failure(
        azure.clients.botService.bots.update("rg-providers", "bot-type", {
          properties: { ...bot().properties, msaAppType: "MultiTenant" },
        } as never),
      ),
    ).toMatchObject({ statusCode: 400, code: "InvalidBotData" });
    expect((await azure.clients.botService.bots.get("rg-providers", "bot-type")).properties?.msaAppType).toBe(
      "SingleTenant",
    );
  });
});
