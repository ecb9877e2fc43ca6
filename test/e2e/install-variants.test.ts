/**
 * Install beyond the default spec, end to end: Telegram (webhook mode) with its operator-supplied
 * token, a Foundry endpoint, WhatsApp, extra allowed identities (a user), Teams turned off, many
 * slugs installing at once, and Azure's propagation delays (Entra replication, RBAC) switched on.
 */
import { describe, expect, it } from "vitest";
import { install, postJson, waitForOperation } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { keyVaultUrl } from "../../src/azure/endpoints";

const shire = useInstallHost();

// Resource bodies are read loosely here: the assertions say what matters.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;

function resource(type: string, slug: string): Anything {
  const state = shire.sandbox.inspect() as { arm: { resources: Anything[] } };
  return state.arm.resources.find(
    (candidate) =>
      candidate.type.toLowerCase() === type.toLowerCase() &&
      candidate.id.toLowerCase().includes(`/resourcegroups/claw-${slug}`),
  );
}

function graphObjects(): Anything[] {
  return (shire.sandbox.inspect() as { graph: Anything[] }).graph.filter((object) => !object.deleted);
}

describe("install variants", () => {
  it("waits for the operator's Telegram token with instructions, then finishes; webhook route, sign-in exclusions, Foundry and users wired", async () => {
    const user = shire.sandbox.graph.addUser({ displayName: "Ada Operator" }) as { id: string };
    const body = {
      channels: {
        teams: { enabled: false },
        telegram: { enabled: true, mode: "webhook" },
        whatsapp: { enabled: true },
      },
      foundry: { endpoint: "https://contoso-ai.services.ai.azure.com/", deployment: "gpt-4o" },
      allowedIdentities: [user.id],
    };
    const first = await install(shire.url, "tele", body);
    expect(first.status).toBe("failed");
    const byId = Object.fromEntries(first.steps.map((step) => [step.id, step]));
    // The two operator-supplied secrets fail at once (no retry can help) and say what to do.
    expect(byId["secret:telegramBotToken"]).toMatchObject({
      status: "failed",
      error: expect.stringContaining("az keyvault secret set"),
    });
    expect(byId["secret:foundryKey"]).toMatchObject({ status: "failed" });
    expect(byId["secret:telegramWebhookSecret"].status).toBe("done");
    expect(byId.containerApp.status).toBe("skipped");
    expect(byId["assignment:identities"].status).toBe("done");

    // The operator writes the tokens (here with the broker's own credential: both hold Secrets Officer).
    const vaultName = resource("Microsoft.KeyVault/vaults", "tele").name as string;
    const vault = shire.clients.secrets(keyVaultUrl(shire.sandbox.endpoints, vaultName));
    await vault.setSecret("telegram-bot-token", "123456:telegram-token-from-botfather");
    await vault.setSecret("foundry-api-key", "foundry-key-from-the-portal-0123456789");

    const second = await install(shire.url, "tele", body);
    expect(second.status, JSON.stringify(second.steps.filter((step) => step.status !== "done"))).toBe("succeeded");

    const app = resource("Microsoft.App/containerApps", "tele");
    const [openclaw, nginx] = app.properties.template.containers;
    const env = Object.fromEntries(
      openclaw.env.map((entry: Anything) => [entry.name, entry.value ?? `secretRef:${entry.secretRef}`]),
    );
    expect(env).toMatchObject({
      TELEGRAM_BOT_TOKEN: "secretRef:telegram-bot-token",
      TELEGRAM_WEBHOOK_SECRET: "secretRef:telegram-webhook-secret",
      AZURE_OPENAI_API_KEY: "secretRef:foundry-api-key",
    });
    expect(env.MSTEAMS_APP_ID).toBeUndefined();
    const nginxConf = nginx.env.find((entry: Anything) => entry.name === "SHIRE_NGINX_CONF").value as string;
    expect(nginxConf).toContain("location = /telegram-webhook");
    expect(nginxConf).not.toContain("/api/messages");
    const seedEnv = Object.fromEntries(
      app.properties.template.initContainers[0].env.map((entry: Anything) => [entry.name, entry.value]),
    );
    const seed = JSON.parse(seedEnv.OPENCLAW_SEED_CONFIG);
    expect(seed.channels.telegram).toMatchObject({
      enabled: true,
      webhookPath: "/telegram-webhook",
      webhookSecret: { source: "env", id: "TELEGRAM_WEBHOOK_SECRET" },
    });
    expect(JSON.stringify(seed)).not.toContain("telegram-token-from-botfather");
    expect(seed.agents.defaults.model.primary).toBe("microsoft-foundry/gpt-4o");
    // Teams is off: no Teams plugin, and a Teams config left on the share is disabled. WhatsApp is
    // a linked device: its plugin, pinned to the OpenClaw version, and the channel switched on.
    expect(JSON.parse(seedEnv.OPENCLAW_SEED_PLUGINS)).toEqual([
      { id: "whatsapp", spec: "@openclaw/whatsapp@2026.9.6" },
    ]);
    expect(seed.channels.whatsapp).toEqual({ enabled: true });
    expect(JSON.parse(seedEnv.OPENCLAW_SEED_DISABLE)).toEqual(["channels.msteams", "plugins.entries.msteams"]);

    const auth = resource("Microsoft.App/containerApps/authConfigs", "tele");
    expect(auth.properties.globalValidation.excludedPaths).toEqual(["/telegram-webhook"]);
    expect(resource("Microsoft.BotService/botServices", "tele")).toBeUndefined();
    expect(graphObjects().filter((object) => object.displayName === "shire-tele-bot")).toEqual([]);
    const principal = graphObjects().find(
      (object) => object.kind === "servicePrincipal" && object.displayName === "shire-tele",
    );
    expect(principal.assignments.map((assignment: Anything) => assignment.principalId)).toContain(user.id);
  });

  it("installs several slugs at once with one shire-admins, through Entra replication and RBAC propagation delays", async () => {
    shire.sandbox.setFaults({ graphReplicationDelayMs: 1_500, rbacPropagationMs: 2_000 });
    try {
      const slugs = ["par-a", "par-b", "par-c", "par-d"];
      const operations = await Promise.all(slugs.map((slug) => install(shire.url, slug, {}, 180_000)));
      for (const operation of operations)
        expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe(
          "succeeded",
        );
      // Every slug's secrets step waited out RBAC propagation instead of failing on 403.
      const retried = operations
        .flatMap((operation) => operation.steps)
        .filter((step) => step.id.startsWith("secret:") && (step.attempts ?? 1) > 1);
      expect(retried.length).toBeGreaterThan(0);
      expect(
        shire.sandbox.requests().some((request) => request.status === 403 && request.url.includes("/secrets/")),
      ).toBe(true);
    } finally {
      shire.sandbox.setFaults({ graphReplicationDelayMs: 0, rbacPropagationMs: 0 });
    }
    const admins = graphObjects().filter((object) => object.kind === "group" && object.displayName === "shire-admins");
    expect(admins).toHaveLength(1);
    for (const slug of ["par-a", "par-b", "par-c", "par-d"]) {
      const apps = graphObjects().filter(
        (object) => object.kind === "application" && object.displayName === `shire-${slug}`,
      );
      expect(apps, slug).toHaveLength(1);
      const principal = graphObjects().find(
        (object) => object.kind === "servicePrincipal" && object.appId === apps[0].appId,
      );
      expect(principal.assignments.map((assignment: Anything) => assignment.principalId)).toContain(admins[0].id);
    }
  }, 240_000);

  it("installs a slug with 500 allowed identities: the custom status stays under 16 KB and always tells the truth", async () => {
    const users = Array.from(
      { length: 500 },
      (_, i) => (shire.sandbox.graph.addUser({ displayName: `Member ${i}` }) as { id: string }).id,
    );
    const started = await postJson(`${shire.url}/api/slugs/crowd/install`, { allowedIdentities: users });
    expect(started.status).toBe(202);
    const operationId = String(started.body.operationId);
    let largest = 0;
    let samples = 0;
    for (;;) {
      const instance = shire.host.engine.getInstance("slug-crowd");
      if (instance?.customStatus) {
        samples++;
        largest = Math.max(largest, Buffer.byteLength(JSON.stringify(instance.customStatus)));
        // Never a finished step shown as pending: the counts match the steps listed or omitted.
        const status = instance.customStatus as {
          counts: Record<string, number>;
          steps: { status: string }[];
          omittedDone?: boolean;
        };
        const listed = status.steps.filter((step) => step.status === "done").length;
        if (!status.omittedDone) expect(listed).toBe(status.counts.done ?? 0);
      }
      if (instance && instance.runtimeStatus !== "Running" && instance.runtimeStatus !== "Pending") break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(samples).toBeGreaterThan(0);
    expect(largest).toBeLessThan(16 * 1024);
    const operation = await waitForOperation(shire.url, operationId, 120_000);
    expect(operation.status).toBe("succeeded");
    expect(operation.steps.filter((step) => step.status !== "done")).toEqual([]);
    const principal = graphObjects().find(
      (object) => object.kind === "servicePrincipal" && object.displayName === "shire-crowd",
    );
    const assigned = new Set(principal.assignments.map((assignment: Anything) => assignment.principalId));
    expect(users.every((user) => assigned.has(user))).toBe(true);

    // Dropping some from the list revokes exactly those; groups stay.
    const kept = users.slice(0, 450);
    expect((await install(shire.url, "crowd", { allowedIdentities: kept }, 120_000)).status).toBe("succeeded");
    const after = graphObjects().find(
      (object) => object.kind === "servicePrincipal" && object.displayName === "shire-crowd",
    );
    const now = after.assignments.map((assignment: Anything) => assignment.principalId);
    expect(now.filter((id: string) => users.includes(id)).sort()).toEqual([...kept].sort());
    expect(now.length).toBe(kept.length + 2); // shire-admins and shire-crowd
  }, 240_000);
});
