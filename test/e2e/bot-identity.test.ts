/**
 * The Teams bot's identity, end to end. A new Teams slug's bot is its user-assigned managed
 * identity (Azure Bot `UserAssignedMSI`, no Entra app, no password): installed, audited clean,
 * packaged for Teams and torn down. A slug installed with a bot on its own app registration keeps
 * it through install, dry run and upgrade, also when its recorded spec predates the field, and
 * asking to switch it is refused (409) before anything is written.
 */
import { describe, expect, it } from "vitest";
import { unzipSync } from "fflate";
import { install, postJson, slugDrift, waitForOperation } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { deriveNames } from "../../src/model/names";
import type { SlugSpec } from "../../src/model/spec";
import { OperationStore } from "../../src/operations/records";
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";

const shire = useInstallHost();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;

const arm = () => (shire.sandbox.inspect() as { arm: { resources: Anything[] } }).arm.resources;
const graph = () => (shire.sandbox.inspect() as { graph: Anything[] }).graph;
const inGroup = (slug: string, type: string) =>
  arm().find((resource) => resource.type === type && resource.id.includes(`/resourceGroups/claw-${slug}/`));
const bot = (slug: string) => inGroup(slug, "Microsoft.BotService/botServices");
const botApps = (slug: string) =>
  graph().filter((object) => object.kind === "application" && object.displayName === `shire-${slug}-bot`);
const openclawEnv = (slug: string): { name: string; value?: string; secretRef?: string }[] =>
  inGroup(slug, "Microsoft.App/containerApps").properties.template.containers.find(
    (container: Anything) => container.name === "openclaw",
  ).env;

describe("the Teams bot's identity", () => {
  it("puts a new Teams slug's bot on its managed identity: no bot app, no password, packaged and torn down", async () => {
    expect((await install(shire.url, "msi")).status).toBe("succeeded");
    const names = deriveNames("msi", { subscriptionId: SANDBOX_SUBSCRIPTION_ID });
    const identity = inGroup("msi", "Microsoft.ManagedIdentity/userAssignedIdentities");
    expect(bot("msi").properties).toMatchObject({
      msaAppType: "UserAssignedMSI",
      msaAppId: identity.properties.clientId,
      msaAppTenantId: shire.sandbox.env.tenantId,
      msaAppMSIResourceId: identity.id,
    });
    expect(botApps("msi")).toEqual([]);
    // The gateway runs with the identity attached and the plugin's managed-identity settings.
    const app = inGroup("msi", "Microsoft.App/containerApps");
    expect(Object.keys(app.identity.userAssignedIdentities)).toEqual([identity.id]);
    const env = Object.fromEntries(openclawEnv("msi").map((entry) => [entry.name, entry.value ?? entry.secretRef]));
    expect(env).toMatchObject({
      MSTEAMS_APP_ID: identity.properties.clientId,
      MSTEAMS_MANAGED_IDENTITY_CLIENT_ID: identity.properties.clientId,
    });
    expect(env).not.toHaveProperty("MSTEAMS_APP_PASSWORD");
    expect(app.properties.configuration.secrets.map((secret: Anything) => secret.name)).not.toContain(
      "teams-app-password",
    );
    for (const replica of shire.sandbox.apps.check(app.id).replicas)
      expect(replica.teamsBot).toEqual({ appId: identity.properties.clientId, ok: true });
    const vaultSecrets = arm()
      .filter((resource) => resource.type === "Microsoft.KeyVault/vaults/secrets")
      .map((resource) => resource.id as string);
    expect(vaultSecrets.filter((id) => id.includes(names.keyVault) && id.endsWith("teams-app-password"))).toEqual([]);

    // The Teams package names the identity's client id as the bot.
    const zip = unzipSync(new Uint8Array(await (await fetch(`${shire.url}/api/slugs/msi/teams-app`)).arrayBuffer()));
    const manifest = JSON.parse(Buffer.from(zip["manifest.json"]).toString("utf8")) as Anything;
    expect(manifest.bots[0].botId).toBe(identity.properties.clientId);

    // Audited clean; a second install changes nothing; rotation has no bot password.
    const drift = await slugDrift(shire.url, "msi");
    expect(drift.drifted).toEqual([]);
    expect((await install(shire.url, "msi")).status).toBe("succeeded");
    const rotate = await postJson(`${shire.url}/api/slugs/msi/rotate`, { secrets: ["teams-app-password"] });
    expect(rotate.status).toBe(400);

    // Teardown with purge: the bot goes with the group; the slug's Entra objects are the sign-in
    // app and its group, and no bot app was ever made.
    const teardown = await postJson(`${shire.url}/api/slugs/msi/teardown`, { confirm: "msi", purge: true });
    expect(teardown.status, JSON.stringify(teardown.body)).toBe(202);
    expect((await waitForOperation(shire.url, String(teardown.body.operationId), 120_000)).status).toBe("succeeded");
    expect(bot("msi")).toBeUndefined();
    expect(graph().filter((object) => /shire-msi/.test(object.displayName ?? ""))).toEqual([]);
  }, 240_000);

  it("keeps an installed slug's app-registration bot, recorded before the field too, and refuses a switch", async () => {
    const registered = { channels: { teams: { botIdentity: "appRegistration" } } };
    expect((await install(shire.url, "legacy", registered)).status).toBe("succeeded");
    const botAppId = botApps("legacy")[0].appId as string;
    expect(bot("legacy").properties).toMatchObject({ msaAppType: "SingleTenant", msaAppId: botAppId });
    // As a slug installed before bot identities: its recorded spec names none.
    const store = OperationStore.fromEnv();
    await store.updateApplied("legacy", (applied) => {
      const spec = structuredClone(applied!.spec as SlugSpec);
      delete spec.channels.teamsBotIdentity;
      return { ...applied!, spec };
    });

    // Install with a body that names no identity (the defaults): the bot stays on its app.
    const plan = await postJson(`${shire.url}/api/slugs/legacy/plan`, {});
    expect(plan.status).toBe(200);
    expect((plan.body.spec as SlugSpec).channels.teamsBotIdentity).toBe("appRegistration");
    expect((plan.body.changes as Anything[]).filter((change) => change.action !== "unchanged")).toEqual([]);
    expect((await install(shire.url, "legacy")).status).toBe("succeeded");
    expect(bot("legacy").properties).toMatchObject({ msaAppType: "SingleTenant", msaAppId: botAppId });
    expect(openclawEnv("legacy").find((entry) => entry.name === "MSTEAMS_APP_PASSWORD")?.secretRef).toBe(
      "teams-app-password",
    );

    // Asking for the managed identity: 409 from the dry run and the install, nothing written.
    const mark = shire.mark();
    const toManaged = { channels: { teams: { botIdentity: "managedIdentity" } } };
    for (const route of ["plan", "install"]) {
      const refused = await postJson(`${shire.url}/api/slugs/legacy/${route}`, toManaged);
      expect(refused.status, route).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: "BotIdentityChange",
        message: expect.stringContaining("needs a new Azure Bot and a new Teams app package"),
      });
    }
    expect(shire.writesSince(mark)).toEqual([]);

    // An upgrade plans the recorded spec: the bot's app and password stay.
    const upgrade = await postJson(`${shire.url}/api/slugs/legacy/upgrade`, {
      image: "ghcr.io/openclaw/openclaw:2026.9.5",
    });
    expect(upgrade.status, JSON.stringify(upgrade.body)).toBe(202);
    expect((await waitForOperation(shire.url, String(upgrade.body.operationId), 120_000)).status).toBe("succeeded");
    expect(openclawEnv("legacy").find((entry) => entry.name === "MSTEAMS_APP_PASSWORD")?.secretRef).toBe(
      "teams-app-password",
    );
    expect(botApps("legacy")).toHaveLength(1);
    expect((await slugDrift(shire.url, "legacy")).drifted).toEqual([]);
  }, 240_000);
});
