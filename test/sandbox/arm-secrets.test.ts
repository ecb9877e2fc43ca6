/**
 * Microsoft.KeyVault/vaults/secrets through ARM with @azure/arm-keyvault: a PUT is a new version in
 * the store the Key Vault data plane serves; ARM never returns the value; ARM's authorization
 * (the `vaults/secrets/write` Action, no data-plane propagation), a soft-deleted name refused.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { AzureClients } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { ROLES, StaticTokenCredential, failure, grantBroker, group, roleId, token, vault } from "./helpers";

const clock = new ManualClock();
const azure = useSandbox({ clock });
const RG = "rg-arm-secrets";
beforeAll(async () => {
  await group(azure.clients, RG);
});

/** The management clients of another principal (a token ARM accepts, for `oid`). */
function clientsOf(oid: string): AzureClients {
  const credential = new StaticTokenCredential(
    token(azure.sandbox, { aud: "https://management.sandbox.localhost", oid }),
  );
  return new AzureClients({ ...azure.sandbox.context(), credential });
}

describe("Secrets_CreateOrUpdate through ARM", () => {
  it("adds a version the data plane serves (value, content type, tags), and answers without the value", async () => {
    const created = await vault(azure, RG, "kv-arm-secrets-1");
    // The broker's data-plane role, only to read back what ARM wrote.
    await grantBroker(azure, created.id!, "8c000000-0000-4000-8000-000000000001");
    const keyVault = azure.clients.keyVault;
    const written = await keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-1", "gateway-token", {
      properties: { value: "value-through-arm-0001", contentType: "text/plain" },
      tags: { "managed-by": "shire" },
    });
    expect(written.properties.value).toBeUndefined();
    expect(JSON.stringify(written)).not.toContain("value-through-arm-0001");
    expect(written).toMatchObject({
      id: `${created.id}/secrets/gateway-token`,
      name: "gateway-token",
      type: "Microsoft.KeyVault/vaults/secrets",
      location: "westeurope",
      tags: { "managed-by": "shire" },
      properties: {
        contentType: "text/plain",
        attributes: { enabled: true },
        secretUri: expect.stringMatching(
          /^https:\/\/kv-arm-secrets-1\.vault\.sandbox\.localhost:\d+\/secrets\/gateway-token$/,
        ),
      },
    });
    const version = written.properties.secretUriWithVersion!.split("/").at(-1);

    const data = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-arm-secrets-1"));
    const read = await data.getSecret("gateway-token");
    expect(read.value).toBe("value-through-arm-0001");
    expect(read.properties).toMatchObject({ version, contentType: "text/plain", tags: { "managed-by": "shire" } });

    // GET and list: the ARM shape, no value.
    const got = await keyVault.secrets.get(RG, "kv-arm-secrets-1", "gateway-token");
    expect(got.properties.value).toBeUndefined();
    expect(got.properties.secretUriWithVersion).toBe(written.properties.secretUriWithVersion);
    const listed = [];
    for await (const secret of keyVault.secrets.list(RG, "kv-arm-secrets-1")) listed.push(secret);
    expect(listed.map((secret) => secret.name)).toEqual(["gateway-token"]);
    expect(JSON.stringify(listed)).not.toContain("value-through-arm-0001");

    // A second PUT is a second version; the data plane serves the newest.
    const again = await keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-1", "gateway-token", {
      properties: { value: "value-through-arm-0002" },
    });
    expect(again.properties.secretUriWithVersion).not.toBe(written.properties.secretUriWithVersion);
    expect((await data.getSecret("gateway-token")).value).toBe("value-through-arm-0002");
    const versions = [];
    for await (const properties of data.listPropertiesOfSecretVersions("gateway-token")) versions.push(properties);
    expect(versions).toHaveLength(2);
    // Container Apps' Key Vault references resolve it too.
    expect(azure.sandbox.keyVault.readSecretValue("kv-arm-secrets-1", "gateway-token")).toBe("value-through-arm-0002");
  });

  it("answers 404 for a secret that does not exist and for a vault that does not", async () => {
    await vault(azure, RG, "kv-arm-secrets-2");
    expect(await failure(azure.clients.keyVault.secrets.get(RG, "kv-arm-secrets-2", "missing"))).toMatchObject({
      statusCode: 404,
      code: "ResourceNotFound",
    });
    expect(
      await failure(
        azure.clients.keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-nope", "s", {
          properties: { value: "x-value-404" },
        }),
      ),
    ).toMatchObject({ statusCode: 404, code: "ParentResourceNotFound" });
  });

  it("needs the Action vaults/secrets/write (Contributor has it; Key Vault Secrets Officer does not) and waits on no propagation", async () => {
    azure.sandbox.setFaults({ rbacPropagationMs: 10 * 60_000 });
    try {
      const created = await vault(azure, RG, "kv-arm-secrets-3");
      const officer = "5f0e1d2c-0000-4000-8000-0000000000d1";
      const contributor = "5f0e1d2c-0000-4000-8000-0000000000d2";
      for (const [principalId, role, name] of [
        [officer, ROLES.secretsOfficer, "8c000000-0000-4000-8000-000000000003"],
        [contributor, ROLES.contributor, "8c000000-0000-4000-8000-000000000004"],
      ])
        await azure.clients.authorization.roleAssignments.create(created.id!, name, {
          roleDefinitionId: roleId(azure.sandbox, role),
          principalId,
          principalType: "ServicePrincipal",
        });
      const refused = await failure(
        clientsOf(officer).keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-3", "s", {
          properties: { value: "value-refused-0001" },
        }),
      );
      expect(refused).toMatchObject({ statusCode: 403, code: "AuthorizationFailed" });
      expect(refused.message).toContain("'Microsoft.KeyVault/vaults/secrets/write'");
      expect(refused.message).not.toContain("value-refused-0001");
      // The officer may read through ARM (vaults/*/read), the contributor write at once (no propagation).
      expect(await failure(clientsOf(officer).keyVault.secrets.get(RG, "kv-arm-secrets-3", "s"))).toMatchObject({
        statusCode: 404,
      });
      await clientsOf(contributor).keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-3", "s", {
        properties: { value: "value-allowed-0001" },
      });
      expect(azure.sandbox.keyVault.readSecretValue("kv-arm-secrets-3", "s")).toBe("value-allowed-0001");
      // A principal with no role at all is refused reads too.
      expect(
        await failure(
          clientsOf("5f0e1d2c-0000-4000-8000-0000000000d3").keyVault.secrets.get(RG, "kv-arm-secrets-3", "s"),
        ),
      ).toMatchObject({ statusCode: 403, code: "AuthorizationFailed" });
    } finally {
      azure.sandbox.setFaults({ rbacPropagationMs: 0 });
    }
  });

  it("refuses a soft-deleted name with 409 Conflict (recovering is the data plane's)", async () => {
    const created = await vault(azure, RG, "kv-arm-secrets-4");
    await grantBroker(azure, created.id!, "8c000000-0000-4000-8000-000000000005");
    const data = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-arm-secrets-4"));
    await data.setSecret("s", "value-deleted-0001");
    await (await data.beginDeleteSecret("s")).pollUntilDone();
    expect(await failure(azure.clients.keyVault.secrets.get(RG, "kv-arm-secrets-4", "s"))).toMatchObject({
      statusCode: 404,
    });
    const conflict = await failure(
      azure.clients.keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-4", "s", {
        properties: { value: "value-new-0001" },
      }),
    );
    expect(conflict).toMatchObject({ statusCode: 409, code: "Conflict" });
    expect(conflict.message).toMatch(/deleted but recoverable state/);
  });

  it("validates the body against the schema and has no PATCH or DELETE", async () => {
    await vault(azure, RG, "kv-arm-secrets-5");
    expect(
      await failure(
        azure.clients.keyVault.secrets.createOrUpdate(RG, "kv-arm-secrets-5", "s", { properties: {} } as never),
      ),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(
        azure.clients.keyVault.secrets.update(RG, "kv-arm-secrets-5", "s", { properties: { value: "value-patch-01" } }),
      ),
    ).toMatchObject({ statusCode: 405 });
  });
});
