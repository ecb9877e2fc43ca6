/**
 * Key Vault secrets through @azure/keyvault-secrets: RBAC that takes time to propagate, the
 * vault's retention and purge protection, Key Vault's error shapes, paged lists the SDK follows,
 * and the limits and attributes the service enforces.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SecretClient } from "@azure/keyvault-secrets";
import { faultPreset } from "../../src/sandbox";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { SandboxCredential } from "../../src/azure/credential";
import { sandboxTransportPolicy } from "../../src/azure/transport";
import { ManualClock } from "../../src/sandbox/state";
import { DEFAULT_FAULTS } from "../../src/sandbox/faults";
import { useSandbox } from "../fixtures/sandbox";
import { failure, grantBroker, raw, roleId, ROLES, token, vault as createVault } from "./helpers";

const clock = new ManualClock();
const DAY = 86_400_000;

const azure = useSandbox({ clock });
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-kv", { location: "westeurope" });
});

let counter = 0;
async function vault(
  name: string,
  properties: Record<string, unknown> = {},
  grant: string | undefined = ROLES.secretsOfficer,
) {
  const created = await createVault(azure, "rg-kv", name, properties);
  if (grant)
    await grantBroker(azure, created.id!, `8b000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`, grant);
  return { id: created.id!, secrets: azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, name)) };
}

const bearer = () => ({ authorization: `Bearer ${token(azure.sandbox, { aud: "https://vault.sandbox.localhost" })}` });

describe("RBAC propagation", () => {
  it("is off by default and on in the realistic and flaky presets", () => {
    expect(DEFAULT_FAULTS.rbacPropagationMs).toBe(0);
    expect(faultPreset("realistic").rbacPropagationMs).toBeGreaterThan(0);
    expect(faultPreset("flaky").rbacPropagationMs).toBeGreaterThan(0);
  });

  it("answers 403 ForbiddenByRbac until an assignment has propagated, then serves", async () => {
    azure.sandbox.setFaults({ rbacPropagationMs: 5 * 60_000 });
    try {
      const { secrets } = await vault("kv-propagate-1");
      const early = await failure(secrets.setSecret("s", "value-propagating-1"));
      expect(early.statusCode).toBe(403);
      expect(early.message).toMatch(/please observe propagation time/);
      const body = await raw(azure.sandbox, "kv-propagate-1.vault", "GET", "/secrets?api-version=2026-04-01", {
        headers: bearer(),
      });
      expect(JSON.parse(body.body).error.innererror).toEqual({ code: "ForbiddenByRbac" });
      clock.advance(5 * 60_000);
      await secrets.setSecret("s", "value-propagating-1");
      expect((await secrets.getSecret("s")).value).toBe("value-propagating-1");
    } finally {
      azure.sandbox.setFaults({ rbacPropagationMs: 0 });
    }
  });
});

describe("soft delete, retention and purge protection", () => {
  it("derives recovery level and purge date from the vault, refuses purge under purge protection, and purges after retention", async () => {
    const { secrets } = await vault("kv-protected-1", { enablePurgeProtection: true, softDeleteRetentionInDays: 7 });
    await secrets.setSecret("kept", "value-kept-00001");
    expect((await secrets.getSecret("kept")).properties.recoveryLevel).toBe("CustomizedRecoverable");
    await (await secrets.beginDeleteSecret("kept")).pollUntilDone();
    const deleted = await secrets.getDeletedSecret("kept");
    expect(deleted.properties).toMatchObject({ recoveryLevel: "CustomizedRecoverable", recoverableDays: 7 });
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(7 * DAY);
    const purge = await failure(secrets.purgeDeletedSecret("kept"));
    expect(purge).toMatchObject({ statusCode: 403, code: "Forbidden" });
    expect(purge.message).toMatch(
      /^Operation "purge" is not allowed because purge protection is enabled for this vault\. Key Vault service will automatically purge it after the retention period has passed\./,
    );

    // Until the scheduled purge date the name stays taken; after it the secret is gone.
    clock.advance(6 * DAY);
    expect(await failure(secrets.setSecret("kept", "value-again-0001"))).toMatchObject({ statusCode: 409 });
    clock.advance(DAY);
    expect(await failure(secrets.getDeletedSecret("kept"))).toMatchObject({ statusCode: 404 });
    await secrets.setSecret("kept", "value-again-0001");

    const plain = await vault("kv-plain-1");
    await plain.secrets.setSecret("p", "value-plain-0001");
    expect((await plain.secrets.getSecret("p")).properties).toMatchObject({
      recoveryLevel: "Recoverable+Purgeable",
      recoverableDays: 90,
    });
    const protectedDefault = await vault("kv-protected-2", { enablePurgeProtection: true });
    await protectedDefault.secrets.setSecret("p", "value-plain-0002");
    expect((await protectedDefault.secrets.getSecret("p")).properties.recoveryLevel).toBe("Recoverable");
  });

  it("answers 409 Conflict with innererror ObjectIsDeletedButRecoverable (Key Vault errors carry no details)", async () => {
    const { secrets } = await vault("kv-conflict-1");
    await secrets.setSecret("gone", "value-gone-00001");
    await (await secrets.beginDeleteSecret("gone")).pollUntilDone();
    const conflict = await raw(azure.sandbox, "kv-conflict-1.vault", "PUT", "/secrets/gone?api-version=2026-04-01", {
      headers: bearer(),
      body: { value: "value-gone-00002" },
    });
    expect(conflict.status).toBe(409);
    expect(JSON.parse(conflict.body)).toEqual({
      error: {
        code: "Conflict",
        message:
          "Secret gone is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.",
        innererror: { code: "ObjectIsDeletedButRecoverable" },
      },
    });
  });
});

describe("lists", () => {
  it("pages 25 at most with absolute next links, which the SDK follows", async () => {
    const { secrets } = await vault("kv-pages-1");
    for (let i = 0; i < 30; i++) await secrets.setSecret("many", `value-many-${String(i).padStart(4, "0")}`);
    for (let i = 0; i < 27; i++) await secrets.setSecret(`Name-${String(i).padStart(2, "0")}`, `value-name-${i}-0000`);
    const versions: string[] = [];
    for await (const version of secrets.listPropertiesOfSecretVersions("many")) versions.push(version.version!);
    expect(new Set(versions).size).toBe(30);
    const names: string[] = [];
    for await (const secret of secrets.listPropertiesOfSecrets()) names.push(secret.name);
    expect(names).toHaveLength(28);
    // Names keep the casing they were created with.
    expect(names).toContain("Name-00");

    const first = JSON.parse(
      (
        await raw(azure.sandbox, "kv-pages-1.vault", "GET", "/secrets/many/versions?api-version=2026-04-01", {
          headers: bearer(),
        })
      ).body,
    ) as { value: unknown[]; nextLink: string };
    expect(first.value).toHaveLength(25);
    expect(first.nextLink).toMatch(
      new RegExp(
        `^https://kv-pages-1\\.vault\\.sandbox\\.localhost:${azure.sandbox.port}/secrets/many/versions\\?api-version=2026-04-01&\\$skiptoken=`,
      ),
    );
    expect(
      (
        await raw(azure.sandbox, "kv-pages-1.vault", "GET", "/secrets?api-version=2026-04-01&maxresults=26", {
          headers: bearer(),
        })
      ).status,
    ).toBe(400);
  });
});

describe("what the service enforces", () => {
  it("limits values to 25 KB, tags to 15, content types to 255 characters", async () => {
    const { secrets } = await vault("kv-limits-1");
    expect(await failure(secrets.setSecret("big", "x".repeat(26 * 1024)))).toMatchObject({
      statusCode: 400,
      code: "BadParameter",
    });
    expect(
      await failure(
        secrets.setSecret("tagged", "value-tagged-0001", {
          tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, "v"])),
        }),
      ),
    ).toMatchObject({ statusCode: 400 });
    expect(
      await failure(secrets.setSecret("typed", "value-typed-00001", { contentType: "a".repeat(256) })),
    ).toMatchObject({ statusCode: 400 });
    await secrets.setSecret("ok", "x".repeat(25 * 1024), {
      tags: Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`t${i}`, "v"])),
      contentType: "a".repeat(255),
    });
  });

  it("updates notBefore and needs secrets/update/action (Secrets User may read, not update)", async () => {
    const { id, secrets } = await vault("kv-update-1");
    const written = await secrets.setSecret("u", "value-update-0001");
    const notBefore = new Date(Math.floor(Date.now() / 1000 + 86_400) * 1000);
    const updated = await secrets.updateSecretProperties("u", written.properties.version!, {
      notBefore,
      tags: { a: "b" },
    });
    expect(updated.notBefore?.getTime()).toBe(notBefore.getTime());
    const reader = "00000000-0000-4000-8000-0000000000d1";
    await azure.clients.authorization.roleAssignments.create(id, "8b000000-0000-4000-8000-0000000000ff", {
      roleDefinitionId: roleId(azure.sandbox, ROLES.secretsUser),
      principalId: reader,
      principalType: "ServicePrincipal",
    });
    const asReader = new SecretClient(
      keyVaultUrl(azure.sandbox.endpoints, "kv-update-1"),
      new SandboxCredential(azure.sandbox.env.tenantId, reader),
      { additionalPolicies: [{ policy: sandboxTransportPolicy(azure.sandbox.endpoints)!, position: "perCall" }] },
    );
    expect((await asReader.getSecret("u")).value).toBe("value-update-0001");
    const refused = await failure(
      asReader.updateSecretProperties("u", written.properties.version!, { enabled: false }),
    );
    expect(refused.statusCode).toBe(403);
    expect(refused.message).toContain("Microsoft.KeyVault/vaults/secrets/update/action");
  });

  it("accepts every api-version the SDK can send", async () => {
    const { secrets } = await vault("kv-versions-1");
    await secrets.setSecret("v", "value-version-001");
    for (const serviceVersion of ["7.0", "7.3", "7.6", "2025-07-01"] as const) {
      const client = new SecretClient(keyVaultUrl(azure.sandbox.endpoints, "kv-versions-1"), new SandboxCredential(), {
        serviceVersion,
        additionalPolicies: [{ policy: sandboxTransportPolicy(azure.sandbox.endpoints)!, position: "perCall" }],
      });
      expect((await client.getSecret("v")).value).toBe("value-version-001");
    }
    expect(
      (
        await raw(azure.sandbox, "kv-versions-1.vault", "GET", "/secrets/v?api-version=2099-01-01", {
          headers: bearer(),
        })
      ).status,
    ).toBe(400);
  });
});
