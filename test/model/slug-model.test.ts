import { describe, expect, it } from "vitest";
import {
  MAX_SLUG_LENGTH,
  deriveNames,
  roleAssignmentName,
  validateInstallRequest,
  validateSlug,
  planSlug,
  topologicalOrder,
  assertValidGraph,
  criticalPathLength,
  type PlanContext,
  type SlugSpec,
} from "../../src/model";
import {
  contextProblems,
  OFFICIAL_REPOSITORY,
  validateInstallRequest as validateRequest,
  validationSettingsFromEnv,
} from "../../src/model/validate";

const context: PlanContext = {
  subscriptionId: "00000000-0000-4000-8000-000000000001",
  tenantId: "00000000-0000-4000-8000-0000000000aa",
  brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
  vaultUri: (name) => `https://${name}.vault.azure.net/`,
};

function spec(body: unknown = {}, slug = "demo"): SlugSpec {
  const result = validateInstallRequest(slug, body);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.spec;
}

/** Azure's name rules (azure-facts §G2) for the names Shire derives. */
const RULES: Record<string, RegExp> = {
  resourceGroup: /^[-\w.()]{1,90}$/,
  keyVault: /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/,
  storageAccount: /^[a-z0-9]{3,24}$/,
  managedEnvironment: /^[a-z](?!.*--)[a-z0-9-]{0,58}[a-z0-9]$/,
  containerApp: /^[a-z](?!.*--)[a-z0-9-]{0,30}[a-z0-9]$/,
  identity: /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/,
  logAnalytics: /^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$/,
  fileShare: /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
  environmentStorage: /^[a-z0-9-]{1,32}$/,
  // Azure Bot: 2-64 alphanumerics, hyphens, underscores, periods; global.
  bot: /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$/,
  // Entra group mail nicknames: at most 64 characters of a restricted ASCII set.
  slugGroupUniqueName: /^[A-Za-z0-9._-]{1,64}$/,
};

describe("slugs", () => {
  it("accepts lowercase slugs with single inner hyphens and refuses the rest", () => {
    for (const good of ["demo", "a1", "contoso-prod", "x".repeat(MAX_SLUG_LENGTH)])
      expect(validateSlug(good), good).toEqual([]);
    for (const bad of [
      "Demo",
      "-demo",
      "demo-",
      "de--mo",
      "1demo",
      "d",
      "x".repeat(MAX_SLUG_LENGTH + 1),
      "de_mo",
      "démo",
    ])
      expect(validateSlug(bad).length, bad).toBeGreaterThan(0);
  });

  it("derives names that stay valid at the longest slug, in every subscription", () => {
    for (const slug of ["ab", "a-b-c-d-e-f-g-h", "x".repeat(MAX_SLUG_LENGTH), `a${"-b".repeat(7)}`]) {
      expect(validateSlug(slug), slug).toEqual([]);
      const names = deriveNames(slug, { subscriptionId: context.subscriptionId }) as unknown as Record<string, string>;
      for (const [kind, rule] of Object.entries(RULES))
        expect(names[kind], `${kind} for ${slug}: ${names[kind]}`).toMatch(rule);
    }
  });

  it("makes global names deterministic per subscription and different across subscriptions", () => {
    const a = deriveNames("demo", { subscriptionId: context.subscriptionId });
    expect(deriveNames("demo", { subscriptionId: context.subscriptionId })).toEqual(a);
    const b = deriveNames("demo", { subscriptionId: "11111111-1111-4111-8111-111111111111" });
    expect(b.keyVault).not.toBe(a.keyVault);
    expect(b.storageAccount).not.toBe(a.storageAccount);
    expect(b.bot).not.toBe(a.bot);
    expect(b.entraAppUniqueName).not.toBe(a.entraAppUniqueName);
    // One shire-admins per tenant, whichever subscription installs.
    expect(b.adminsGroupUniqueName).toBe(a.adminsGroupUniqueName);
    expect(b.resourceGroup).toBe(a.resourceGroup);
  });

  it("names role assignments with stable, distinct GUIDs", () => {
    const one = roleAssignmentName("/subscriptions/s/resourceGroups/g", "role-a", "principal-1");
    expect(one).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(roleAssignmentName("/subscriptions/s/resourceGroups/G", "ROLE-A", "PRINCIPAL-1")).toBe(one);
    expect(roleAssignmentName("/subscriptions/s/resourceGroups/g", "role-a", "principal-2")).not.toBe(one);
    expect(roleAssignmentName("/subscriptions/s/resourceGroups/g", "role-b", "principal-1")).not.toBe(one);
  });
});

describe("install request validation", () => {
  it("takes {} with sensible defaults", () => {
    expect(spec({})).toMatchObject({
      slug: "demo",
      region: "westeurope",
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      channels: { teams: true, whatsapp: false },
      resources: { cpu: 1, memory: "2Gi" },
    });
  });

  it("lists every problem at once", () => {
    const result = validateInstallRequest("Bad", {
      image: "ghcr.io/openclaw/openclaw:latest",
      region: "mars",
      channels: { telegram: { enabled: true, botToken: "x" } },
      resources: { cpu: 3, memory: "1Gi" },
      allowedIdentities: ["nope"],
      extra: 1,
    });
    expect(result.ok).toBe(false);
    const paths = result.ok ? [] : result.problems.map((problem) => problem.path).sort();
    expect(paths).toEqual([
      "allowedIdentities[0]",
      "channels.telegram.botToken",
      "extra",
      "image",
      "region",
      "resources",
      "slug",
    ]);
  });

  it("refuses moving tags unless asked, and accepts pinned versions and digests", () => {
    // Registries beyond the official one are the operator's to allow (SHIRE_ALLOWED_REGISTRIES, the shared registry).
    const allowing = {
      ...validationSettingsFromEnv({}),
      allowedRegistries: [OFFICIAL_REPOSITORY, "myacr.azurecr.io", "shire.azurecr.io"],
    };
    const validateInstallRequest = (slug: string, body: unknown) => validateRequest(slug, body, allowing);
    expect(validateInstallRequest("demo", { image: "ghcr.io/openclaw/openclaw:extended-stable" }).ok).toBe(false);
    expect(validateInstallRequest("demo", { image: "ghcr.io/openclaw/openclaw:latest", allowMovingTag: true }).ok).toBe(
      true,
    );
    expect(validateInstallRequest("demo", { image: "myacr.azurecr.io/openclaw/openclaw:2026.9.6-2-slim" }).ok).toBe(
      true,
    );
    expect(validateInstallRequest("demo", { image: `ghcr.io/openclaw/openclaw@sha256:${"a".repeat(64)}` }).ok).toBe(
      true,
    );
    expect(validateInstallRequest("demo", { image: "ghcr.io/openclaw/openclaw" }).ok).toBe(false);
    // Shire's runtime image carries a build suffix; a tag with its digest runs the digest.
    expect(validateInstallRequest("demo", { image: "shire.azurecr.io/openclaw/openclaw:2026.9.6-teams" }).ok).toBe(
      true,
    );
    expect(
      validateInstallRequest("demo", { image: `ghcr.io/openclaw/openclaw:2026.9.6@sha256:${"b".repeat(64)}` }).ok,
    ).toBe(true);
    expect(validateInstallRequest("demo", { image: "ghcr.io/openclaw/openclaw@sha256:abc" }).ok).toBe(false);
    // Container Apps cannot pull from the machine that sent the request.
    expect(validateInstallRequest("demo", { image: "localhost:5000/openclaw/openclaw:2026.9.6" }).ok).toBe(false);
  });

  it("refuses what would only fail later at Azure, instead of failing halfway through an install", () => {
    const problems = (body: unknown) => {
      const result = validateInstallRequest("demo", body);
      return result.ok ? [] : result.problems.map((problem) => problem.path);
    };
    expect(problems({ foundry: null })).toEqual(["foundry"]);
    expect(problems({ foundry: { endpoint: "https://x.openai.azure.com/", deployment: 42 } })).toEqual([
      "foundry.deployment",
    ]);
    const id = "11111111-1111-4111-8111-111111111111";
    expect(problems({ allowedIdentities: [id, id.toUpperCase()] })).toEqual(["allowedIdentities[1]"]);
    expect(problems({ resources: { cpu: "1" } })).toEqual(["resources.cpu"]);
    // An allowed Container Apps pair, but too small for the gateway (about 1 GB idle) beside the sidecar.
    expect(problems({ resources: { cpu: 0.75 } })).toEqual(["resources"]);
    expect(problems({ resources: { cpu: 1.25 } })).toEqual([]);
    expect(problems({ tags: { "cost/center": "1" } })).toEqual(["tags.cost/center"]);
    expect(problems({ tags: { owner: "x".repeat(257) } })).toEqual(["tags.owner"]);
    expect(problems({ tags: Object.fromEntries(Array.from({ length: 49 }, (_, i) => [`t${i}`, "v"])) })).toEqual([
      "tags",
    ]);
    expect(problems({ tags: { "managed-by": "me" } })).toEqual(["tags.managed-by"]);
  });

  it("refuses a Foundry account outside Shire's subscription (its key could not be read)", () => {
    const foundry = (subscription: string) =>
      spec({
        foundry: {
          endpoint: "https://x.openai.azure.com/",
          accountResourceId: `/subscriptions/${subscription}/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/x`,
        },
      });
    expect(contextProblems(foundry(context.subscriptionId), context)).toEqual([]);
    expect(
      contextProblems(foundry("99999999-9999-4999-8999-999999999999"), context).map((problem) => problem.path),
    ).toEqual(["foundry.accountResourceId"]);
  });
});

describe("planSlug", () => {
  it("is pure and deterministic", () => {
    const first = planSlug(spec(), context);
    expect(planSlug(spec(), context)).toEqual(first);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });

  it("has a node per resource, valid dependencies and the dependencies DESIGN.md implies", () => {
    const plan = planSlug(spec(), context);
    const byId = new Map(plan.nodes.map((node) => [node.id, node]));
    for (const id of [
      "resourceGroup",
      "logAnalytics",
      "appInsights",
      "identity",
      "keyVault",
      "vaultAccess:broker",
      "vaultAccess:gateway",
      "storageAccount",
      "fileShare",
      "managedEnvironment",
      "environmentStorage",
      "entraApp",
      "group:admins",
      "group:slug",
      "assignment:admins",
      "assignment:slug",
      "vaultAccess:admins",
      "secret:gatewayToken",
      "secret:entraClientSecret",
      "secret:storageKey",
      "containerApp",
      "authConfig",
      "staticWebsite",
      "botService",
    ]) {
      expect(byId.has(id), id).toBe(true);
    }
    expect(byId.get("containerApp")!.dependsOn).toEqual(
      expect.arrayContaining([
        "environmentStorage",
        "vaultAccess:gateway",
        "secret:gatewayToken",
        "secret:entraClientSecret",
      ]),
    );
    expect(byId.get("entraApp")!.desired).toMatchObject({ assignmentRequired: true, idTokenIssuance: true });
    // Operators can write the tokens Shire cannot make: shire-admins holds Secrets Officer on the vault.
    expect(byId.get("vaultAccess:admins")!.desired).toMatchObject({
      principalType: "Group",
      roleDefinitionGuid: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
      principalId: { fromNode: "group:admins", output: "groupId" },
    });
    const order = topologicalOrder(plan.nodes).map((node) => node.id);
    for (const node of plan.nodes)
      for (const dependency of node.dependsOn) expect(order.indexOf(dependency)).toBeLessThan(order.indexOf(node.id));
    // Entra groups need nothing: they start at once, in parallel with the resource group.
    expect(byId.get("group:admins")!.dependsOn).toEqual([]);
    expect(criticalPathLength(plan.nodes)).toBeLessThan(plan.nodes.length / 2);
  });

  it("puts a new Teams slug's bot on the slug's managed identity: no bot app, no bot password", () => {
    const plan = planSlug(spec(), context);
    const byId = new Map(plan.nodes.map((node) => [node.id, node]));
    expect(byId.has("botApp")).toBe(false);
    expect(byId.has("secret:teamsAppPassword")).toBe(false);
    // Directory objects: the sign-in app (+ its service principal) and the groups, nothing for the bot.
    expect(plan.nodes.filter((node) => node.kind === "entraApp").map((node) => node.id)).toEqual(["entraApp"]);
    const identityId =
      "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/claw-demo/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-openclaw-demo";
    expect(byId.get("botService")!.dependsOn).toEqual(expect.arrayContaining(["containerApp", "identity"]));
    expect(byId.get("botService")!.desired).toMatchObject({
      msaAppType: "UserAssignedMSI",
      msaAppId: { fromNode: "identity", output: "clientId" },
      msaAppMSIResourceId: identityId,
      tenantId: context.tenantId,
    });
    const app = byId.get("containerApp")!.desired as {
      identityResourceId: string;
      configuration: { secrets: { name: string }[] };
      template: {
        containers: { name: string; env: { name: string; value?: unknown; secretRef?: string }[] }[];
        initContainers: { env: { name: string; value?: unknown }[] }[];
      };
    };
    // The identity the bot names is the one attached to the app (MSAL asks the identity endpoint for it).
    expect(app.identityResourceId).toBe(identityId);
    expect(app.configuration.secrets.map((secret) => secret.name)).not.toContain("teams-app-password");
    const env = app.template.containers.find((container) => container.name === "openclaw")!.env;
    const named = (name: string) => env.find((entry) => entry.name === name);
    expect(named("MSTEAMS_APP_PASSWORD")).toBeUndefined();
    expect(named("MSTEAMS_APP_ID")?.value).toEqual({ fromNode: "identity", output: "clientId" });
    expect(named("MSTEAMS_MANAGED_IDENTITY_CLIENT_ID")?.value).toEqual({ fromNode: "identity", output: "clientId" });
    expect(named("MSTEAMS_TENANT_ID")?.value).toBe(context.tenantId);
    const seed = app.template.initContainers[0].env.find((entry) => entry.name === "OPENCLAW_SEED_CONFIG")!.value as {
      format: string;
    };
    const msteams = (JSON.parse(seed.format) as { channels: { msteams: Record<string, unknown> } }).channels.msteams;
    expect(msteams).toMatchObject({ enabled: true, authType: "federated", useManagedIdentity: true });
    expect(msteams).not.toHaveProperty("appPassword");
  });

  it("keeps an app-registration bot on its own app and password when the spec says so (or predates botIdentity)", () => {
    const legacy = spec();
    delete legacy.channels.teamsBotIdentity; // recorded before the field existed
    for (const recorded of [spec({ channels: { teams: { botIdentity: "appRegistration" } } }), legacy]) {
      const plan = planSlug(recorded, context);
      const byId = new Map(plan.nodes.map((node) => [node.id, node]));
      expect(byId.get("containerApp")!.dependsOn).toEqual(
        expect.arrayContaining(["botApp", "secret:teamsAppPassword"]),
      );
      // The bot is its own app registration: Bot Framework needs tokens for it without an assignment.
      expect(byId.get("botService")!.dependsOn).toEqual(expect.arrayContaining(["containerApp", "botApp"]));
      expect(byId.get("botService")!.desired).toMatchObject({
        msaAppType: "SingleTenant",
        msaAppId: { fromNode: "botApp", output: "appId" },
      });
      expect(byId.get("botService")!.desired).not.toHaveProperty("msaAppMSIResourceId");
      expect(byId.get("botApp")!.desired).toMatchObject({
        assignmentRequired: false,
        idTokenIssuance: false,
        redirectUris: [],
      });
      const app = JSON.stringify(byId.get("containerApp")!.desired);
      expect(app).toContain("MSTEAMS_APP_PASSWORD");
      expect(app).not.toContain("MSTEAMS_MANAGED_IDENTITY_CLIENT_ID");
      expect(app).not.toContain("useManagedIdentity");
    }
  });

  it("detects a broken graph", () => {
    const plan = planSlug(spec(), context);
    const missing = plan.nodes.map((node) => (node.id === "fileShare" ? { ...node, dependsOn: ["nowhere"] } : node));
    expect(() => assertValidGraph(missing)).toThrow(/unknown node 'nowhere'/);
    const cycle = plan.nodes.map((node) =>
      node.id === "resourceGroup" ? { ...node, dependsOn: ["containerApp"] } : node,
    );
    expect(() => assertValidGraph(cycle)).toThrow(/cycle/);
  });

  it("drops the bot, the tab page and the Teams route when Teams is off", () => {
    const plan = planSlug(spec({ channels: { teams: { enabled: false } } }), context);
    const ids = plan.nodes.map((node) => node.id);
    expect(ids).not.toContain("botService");
    expect(ids).not.toContain("staticWebsite");
    expect(ids).not.toContain("botApp");
    expect(ids).not.toContain("secret:teamsAppPassword");
    const auth = plan.nodes.find((node) => node.id === "authConfig")!.desired as {
      config: { globalValidation: { excludedPaths: string[] } };
    };
    expect(auth.config.globalValidation.excludedPaths).toEqual([]);
    const app = JSON.stringify(plan.nodes.find((node) => node.id === "containerApp")!.desired);
    expect(app).not.toContain("MSTEAMS_APP_PASSWORD");
    expect(app).not.toContain("/api/messages");
  });

  it("wires Telegram webhook mode: secrets from the vault, the route excluded from sign-in", () => {
    const plan = planSlug(spec({ channels: { telegram: { enabled: true, mode: "webhook" } } }), context);
    const ids = plan.nodes.map((node) => node.id);
    expect(ids).toEqual(expect.arrayContaining(["secret:telegramBotToken", "secret:telegramWebhookSecret"]));
    expect(plan.nodes.find((node) => node.id === "secret:telegramBotToken")!.desired).toMatchObject({
      source: { type: "external" },
    });
    const auth = plan.nodes.find((node) => node.id === "authConfig")!.desired as {
      config: { globalValidation: { excludedPaths: string[] } };
    };
    expect(auth.config.globalValidation.excludedPaths.sort()).toEqual(["/api/messages", "/telegram-webhook"]);
  });

  it("carries no secret value: secrets are Key Vault references and secretRefs only", () => {
    const plan = planSlug(
      spec({
        channels: { teams: { botIdentity: "appRegistration" }, telegram: { enabled: true, mode: "webhook" } },
        foundry: { endpoint: "https://x.openai.azure.com" },
      }),
      context,
    );
    const app = plan.nodes.find((node) => node.id === "containerApp")!.desired as {
      configuration: { secrets: Record<string, unknown>[] };
      template: { containers: { env: { name: string; value?: unknown; secretRef?: string }[] }[] };
    };
    for (const secret of app.configuration.secrets) {
      expect(secret.value).toBeUndefined();
      expect(String(secret.keyVaultUrl)).toMatch(/^https:\/\/kv-demo-[a-z0-9]{5}\.vault\.azure\.net\/secrets\//);
    }
    const env = app.template.containers.flatMap((container) => container.env);
    for (const name of [
      "OPENCLAW_GATEWAY_TOKEN",
      "MSTEAMS_APP_PASSWORD",
      "TELEGRAM_BOT_TOKEN",
      "TELEGRAM_WEBHOOK_SECRET",
      "AZURE_OPENAI_API_KEY",
    ]) {
      const entry = env.find((candidate) => candidate.name === name);
      expect(entry?.secretRef, name).toBeTruthy();
      expect(entry?.value, name).toBeUndefined();
    }
    // No generated value at all: the plan is a pure function of the spec and context.
    expect(JSON.stringify(plan)).toBe(
      JSON.stringify(
        planSlug(
          spec({
            channels: { teams: { botIdentity: "appRegistration" }, telegram: { enabled: true, mode: "webhook" } },
            foundry: { endpoint: "https://x.openai.azure.com" },
          }),
          context,
        ),
      ),
    );
  });
});
