/**
 * Install end to end: the real app on the local host, real SDK clients, the sandbox as Azure.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { callApi, footprint, install, postJson, getJson, waitForOperation } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { Agent } from "undici";
import { loopbackLookup } from "../../src/azure/transport";
import { SANDBOX_DNS_SUFFIX } from "../../src/azure/endpoints";
import { findSchemasDir } from "../../src/sandbox/arm/schemas";
import { allTemplateProblems } from "../fixtures/arm-template";

const shire = useInstallHost();

// Resource bodies are read loosely here: the assertions say what matters.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Anything = any;
type Resource = {
  id: string;
  type: string;
  name: string;
  location?: string;
  tags?: Record<string, string>;
  identity?: { userAssignedIdentities?: Record<string, unknown> };
  properties: Record<string, Anything>;
};

/** GET a sandbox URL anonymously, trusting the sandbox's CA (what Teams does with the website). */
async function fetchFromSandbox(url: string): Promise<string> {
  const target = new URL(url);
  const dispatcher = new Agent({
    connect: { ca: shire.sandbox.caCertificatePem, lookup: loopbackLookup(SANDBOX_DNS_SUFFIX) },
  });
  const response = await fetch(`https://${target.hostname}:${shire.sandbox.port}${target.pathname}`, {
    dispatcher,
  } as RequestInit);
  expect(response.status, url).toBe(200);
  return response.text();
}

function resources(type: string, slug: string): Resource[] {
  const state = shire.sandbox.inspect() as { arm: { resources: Resource[] } };
  return state.arm.resources.filter(
    (resource) =>
      resource.type.toLowerCase() === type.toLowerCase() &&
      resource.id.toLowerCase().includes(`/resourcegroups/claw-${slug}`),
  );
}

describe("install against the sandbox", () => {
  it("brings up every resource with the right properties and reports every step done", async () => {
    const operation = await install(shire.url, "demo");
    expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe(
      "succeeded",
    );
    expect(operation.steps.length).toBeGreaterThanOrEqual(20);
    expect(
      operation.steps.every(
        (step) =>
          step.status === "done" &&
          typeof step.durationMs === "number" &&
          // A new app runs already; an empty allowedIdentities list has nothing to assign.
          step.action === (["appRunState", "assignment:identities"].includes(step.id) ? "unchanged" : "created"),
      ),
    ).toBe(true);

    const [group] = resources("Microsoft.Resources/resourceGroups", "demo");
    expect(group.tags).toMatchObject({ "managed-by": "shire", "shire-slug": "demo" });

    const [vault] = resources("Microsoft.KeyVault/vaults", "demo");
    expect(vault.name).toMatch(/^kv-demo-[a-z0-9]{5}$/);
    expect(vault.properties).toMatchObject({ enableRbacAuthorization: true, enableSoftDelete: true });

    const [identity] = resources("Microsoft.ManagedIdentity/userAssignedIdentities", "demo");
    const assignments = resources("Microsoft.Authorization/roleAssignments", "demo");
    const gatewayGrant = assignments.find(
      (assignment) => assignment.properties.principalId === identity.properties.principalId,
    );
    expect(gatewayGrant?.properties).toMatchObject({ principalType: "ServicePrincipal", scope: vault.id });
    expect(gatewayGrant?.properties.roleDefinitionId).toMatch(/4633458b-17de-408a-b874-0445c86b69e6$/);

    const [environment] = resources("Microsoft.App/managedEnvironments", "demo");
    const [workspace] = resources("Microsoft.OperationalInsights/workspaces", "demo");
    expect(environment.properties.appLogsConfiguration).toEqual({
      destination: "log-analytics",
      logAnalyticsConfiguration: { customerId: workspace.properties.customerId },
    });
    const [storage] = resources("Microsoft.App/managedEnvironments/storages", "demo");
    expect(storage.properties.azureFile).toMatchObject({ shareName: "openclaw-state", accessMode: "ReadWrite" });

    const [app] = resources("Microsoft.App/containerApps", "demo");
    const template = app.properties.template as Anything;
    expect(template.containers.map((container: Anything) => container.name)).toEqual(["openclaw", "nginx"]);
    expect(template.scale).toEqual({ minReplicas: 1, maxReplicas: 1 });
    expect(app.properties.configuration.ingress).toMatchObject({ targetPort: 8080, external: true });
    expect(Object.keys(app.identity?.userAssignedIdentities ?? {}).map((id) => id.toLowerCase())).toEqual([
      identity.id.toLowerCase(),
    ]);
    const openclaw = template.containers[0];
    const env = Object.fromEntries(
      openclaw.env.map((entry: Anything) => [entry.name, entry.value ?? `secretRef:${entry.secretRef}`]),
    );
    expect(env).toMatchObject({
      OPENCLAW_STATE_DIR: "/home/node/.openclaw",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_GATEWAY_TOKEN: "secretRef:gateway-token",
      // The Teams bot is the app's own identity: no password.
      MSTEAMS_APP_ID: identity.properties.clientId,
      MSTEAMS_MANAGED_IDENTITY_CLIENT_ID: identity.properties.clientId,
      // ~/.config/openclaw (the auth profiles' key) lives on the share too.
      XDG_CONFIG_HOME: "/home/node/.openclaw/.config",
    });
    expect(template.volumes).toEqual([
      expect.objectContaining({
        storageType: "AzureFile",
        storageName: "openclaw-state",
        mountOptions: expect.stringContaining("uid=1000"),
      }),
    ]);
    // Nothing in OpenClaw reads an Application Insights connection string: none is set.
    expect(Object.keys(env).filter((name) => name.startsWith("APPLICATIONINSIGHTS"))).toEqual([]);
    for (const secret of app.properties.configuration.secrets) {
      expect(secret.value).toBeUndefined();
      expect(secret.keyVaultUrl).toContain(`${vault.name}.vault.`);
      expect(secret.identity.toLowerCase()).toBe(identity.id.toLowerCase());
    }
    const seed = JSON.parse(
      template.initContainers[0].env.find((entry: Anything) => entry.name === "OPENCLAW_SEED_CONFIG").value,
    );
    expect(seed.gateway).toMatchObject({
      mode: "local",
      bind: "lan",
      trustedProxies: ["127.0.0.1"],
      controlUi: { allowedOrigins: [`https://${app.properties.configuration.ingress.fqdn}`] },
    });
    expect(
      openclaw.probes.map((probe: Anything) => `${probe.type}:${probe.httpGet?.path}:${probe.httpGet?.port}`),
    ).toEqual(["Startup:/healthz:18789", "Liveness:/healthz:18789", "Readiness:/ready:18790"]);
    expect(template.initContainers[0].resources).toMatchObject({ cpu: 0.5, memory: "1Gi" });
    const seedEnv = Object.fromEntries(
      template.initContainers[0].env.map((entry: Anything) => [entry.name, entry.value]),
    );
    expect(JSON.parse(seedEnv.OPENCLAW_SEED_PLUGINS)).toEqual([{ id: "msteams", spec: "@openclaw/msteams@2026.9.5" }]);
    expect(app.properties.latestRevisionName).toMatch(/^openclaw--/);

    const [auth] = resources("Microsoft.App/containerApps/authConfigs", "demo");
    expect(auth.properties.globalValidation).toMatchObject({
      unauthenticatedClientAction: "RedirectToLoginPage",
      excludedPaths: ["/api/messages"],
    });

    const [bot] = resources("Microsoft.BotService/botServices", "demo");
    expect(bot.properties.endpoint).toBe(`https://${app.properties.configuration.ingress.fqdn}/api/messages`);

    const graph = (shire.sandbox.inspect() as { graph: Anything[] }).graph;
    const entraApp = graph.find((object) => object.kind === "application" && object.displayName === "shire-demo");
    expect(entraApp.uniqueName).toMatch(/^shire-demo-[a-z0-9]{5}$/);
    expect(entraApp.web?.implicitGrantSettings?.enableIdTokenIssuance).toBe(true);
    const principal = graph.find((object) => object.kind === "servicePrincipal" && object.appId === entraApp.appId);
    expect(principal.appRoleAssignmentRequired).toBe(true);
    expect(principal.assignments.map((assignment: Anything) => assignment.principalDisplayName).sort()).toEqual([
      "shire-admins",
      "shire-demo",
    ]);
    expect(auth.properties.identityProviders.azureActiveDirectory.registration.clientId).toBe(entraApp.appId);
    // The bot is the slug's managed identity (UserAssignedMSI): no app of its own, no password.
    expect(graph.filter((object) => object.displayName === "shire-demo-bot")).toEqual([]);
    expect(bot.properties).toMatchObject({
      msaAppType: "UserAssignedMSI",
      msaAppId: identity.properties.clientId,
      msaAppMSIResourceId: identity.id,
    });
    expect(env).not.toHaveProperty("MSTEAMS_APP_PASSWORD");
    expect(seed.channels.msteams).toMatchObject({ authType: "federated", useManagedIdentity: true });
    // The groups are Shire's: keyed by uniqueName, one shire-admins for every slug.
    const admins = graph.filter((object) => object.kind === "group" && object.displayName === "shire-admins");
    expect(admins).toHaveLength(1);
    expect(admins[0].uniqueName).toBe("shire-admins");
    // Operators can write channel tokens into the vault (RBAC mode gives no one data access by default).
    expect(
      assignments.find((assignment) => assignment.properties.principalId === admins[0].id)?.properties,
    ).toMatchObject({ principalType: "Group", scope: vault.id });
    expect(
      assignments.find((assignment) => assignment.properties.principalId === admins[0].id)?.properties.roleDefinitionId,
    ).toMatch(/b86a8fe4-44ce-4948-aee5-eccb2c155cd7$/);

    const secrets = Object.keys(
      (shire.sandbox.inspect() as { keyvault: Record<string, object> }).keyvault[vault.name],
    ).sort();
    expect(secrets).toEqual(["entra-client-secret", "gateway-token", "storage-account-key"]);
    expect(footprint(shire.sandbox, "demo").website).toMatchObject({
      staticWebsite: { enabled: true, indexDocument: "index.html" },
      web: ["index.html", "tab.html"],
    });
    // Teams loads both pages anonymously from the website endpoint; the tab's content is the
    // launcher (the app itself refuses to be framed), the app is the website the tab opens.
    const storageAccount = resources("Microsoft.Storage/storageAccounts", "demo")[0];
    const web = String(storageAccount.properties.primaryEndpoints.web);
    const configPage = await fetchFromSandbox(`${web}index.html`);
    expect(configPage).toContain(`contentUrl: tabUrl, websiteUrl: appUrl`);
    expect(configPage).toContain(`const tabUrl = "${web}tab.html"`);
    expect(configPage).toContain(`const appUrl = "https://${app.properties.configuration.ingress.fqdn}"`);
    expect(await fetchFromSandbox(`${web}tab.html`)).toContain(`microsoftTeams.app.openLink(appUrl)`);

    const slug = await getJson<{ state: string; image: string; lastOperationId: string }>(
      `${shire.url}/api/slugs/demo`,
    );
    expect(slug.body).toMatchObject({
      state: "installed",
      version: "ghcr.io/openclaw/openclaw:2026.9.6",
      lastOperationId: operation.id,
    });
  });

  it("shows a dry run: everything to create before, nothing after, the image change when asked", async () => {
    const before = shire.mark();
    const fresh = await getJson<{
      summary: Record<string, number>;
      changes: { node: string; action: string; changed?: string[] }[];
    }>(`${shire.url}/api/slugs/planned/plan`);
    expect(fresh.status).toBe(200);
    // At most the tenant-wide shire-admins group exists already (made by an earlier install).
    expect(
      fresh.body.changes.filter((change) => change.action === "unchanged" && change.node !== "group:admins"),
    ).toEqual([]);
    expect(fresh.body.changes.find((change) => change.node === "resourceGroup")?.action).toBe("create");
    expect(fresh.body.changes.find((change) => change.node === "containerApp")?.action).toBe("after-dependencies");
    expect(shire.writesSince(before)).toEqual([]);

    const installed = await getJson<{ summary: Record<string, number>; changes: { node: string; action: string }[] }>(
      `${shire.url}/api/slugs/demo/plan`,
    );
    expect(installed.body.changes.filter((change) => change.action !== "unchanged")).toEqual([]);

    const upgrade = await getJson<{ changes: { node: string; action: string; changed?: string[] }[] }>(
      `${shire.url}/api/slugs/demo/plan?image=ghcr.io/openclaw/openclaw:2026.9.7`,
    );
    const app = upgrade.body.changes.find((change) => change.node === "containerApp");
    expect(app?.action).toBe("update");
    expect(app?.changed).toEqual(
      expect.arrayContaining(["template.containers[0].image", "template.initContainers[0].image"]),
    );
    expect(
      upgrade.body.changes
        .filter((change) => change.action === "create" || change.action === "update")
        .map((change) => change.node),
    ).toEqual(["containerApp"]);
    // Steps that read the app's outputs are re-checked after it: the dry run cannot see past a change.
    expect(
      upgrade.body.changes
        .filter((change) => change.action === "after-dependencies")
        .map((change) => change.node)
        .sort(),
    ).toEqual(["botService", "staticWebsite"]);
    expect(shire.writesSince(before)).toEqual([]);
  });

  it("writes nothing the second time", async () => {
    const before = shire.mark();
    const operation = await install(shire.url, "demo");
    expect(operation.status).toBe("succeeded");
    expect(operation.steps.every((step) => step.action === "unchanged")).toBe(true);
    expect(shire.writesSince(before)).toEqual([]);
  });

  it("exports the installed footprint: every resource the install made, its Entra ids as defaults, a template that validates", async () => {
    const exported = await getJson<Anything>(`${shire.url}/api/slugs/demo/template`);
    expect(exported.status).toBe(200);
    const template = exported.body;
    if (findSchemasDir()) expect(allTemplateProblems(template)).toEqual([]);
    const [auth] = resources("Microsoft.App/containerApps/authConfigs", "demo");
    expect(template.parameters.entraAppAppId.defaultValue).toBe(
      auth.properties.identityProviders.azureActiveDirectory.registration.clientId,
    );
    // The bot is the slug's identity, made in the deployment: no parameter for it.
    expect(Object.keys(template.parameters).filter((name) => /bot/i.test(name))).toEqual([]);
    // Each resource in claw-demo is in the template under its id (a role assignment named after a
    // principal made during the deployment is named otherwise: compared by scope and role).
    const [group] = resources("Microsoft.Resources/resourceGroups", "demo");
    const nested = template.resources.find((resource: Anything) => resource.name === "shire-demo");
    const exportedIds = new Set<string>(
      nested.properties.template.resources
        .filter((resource: Anything) => !String(resource.name).startsWith("["))
        .map((resource: Anything) => {
          const [namespace, ...types] = resource.type.split("/");
          const names = resource.name.split("/");
          const path = types.map((type: string, index: number) => `${type}/${names[index]}`).join("/");
          return (
            resource.scope
              ? `${resource.scope}/providers/${resource.type}/${resource.name}`
              : `${group.id}/providers/${namespace}/${path}`
          ).toLowerCase();
        }),
    );
    const computedGrants = nested.properties.template.resources
      .filter((resource: Anything) => String(resource.name).startsWith("["))
      .map((resource: Anything) => `${resource.scope.toLowerCase()} ${resource.properties.roleDefinitionId}`);
    const installed = (shire.sandbox.inspect() as { arm: { resources: Resource[] } }).arm.resources.filter((resource) =>
      resource.id.toLowerCase().startsWith(`${group.id.toLowerCase()}/`),
    );
    // Not deployed by anyone: revisions and their replicas (made by the service), the blob and file services (every
    // account has them; the static website on the blob service is the Teams tab's, data plane).
    const deployable = installed.filter(
      (resource) =>
        !/\/(blobServices|fileServices)\/default$|\/revisions\/[^/]+(\/replicas\/[^/]+)?$/i.test(resource.id),
    );
    expect(deployable.length).toBeGreaterThan(15);
    for (const resource of deployable) {
      if (exportedIds.has(resource.id.toLowerCase())) continue;
      const role = String(resource.properties.roleDefinitionId).split("/").at(-1);
      expect(
        computedGrants.some(
          (grant: string) =>
            grant.startsWith(`${String(resource.properties.scope).toLowerCase()} `) && grant.includes(role!),
        ),
        `${resource.id} is in the template`,
      ).toBe(true);
    }
  });

  it("refuses invalid input with every problem listed and touches nothing", async () => {
    const before = shire.mark();
    const response = await postJson(`${shire.url}/api/slugs/Bad--Slug/install`, {
      image: "ghcr.io/openclaw/openclaw:latest",
      channels: { telegram: { enabled: true, botToken: "123:abc" } },
      regoin: "westeurope",
    });
    expect(response.status).toBe(400);
    const error = response.body.error as { code: string; details: { path: string }[] };
    expect(error.code).toBe("InvalidRequest");
    expect(error.details.map((problem) => problem.path).sort()).toEqual([
      "channels.telegram.botToken",
      "image",
      "regoin",
      "slug",
    ]);
    expect(shire.sandbox.requests().length).toBe(before);
    const log = fs.existsSync(shire.logFile) ? fs.readFileSync(shire.logFile, "utf8") : "";
    expect(log).not.toContain("Bad--Slug");
  });

  it("refuses each kind of bad request with its status in the error shape, writing nothing and starting nothing", async () => {
    const before = shire.mark();
    const send = async (method: string, route: string, body?: string, headers: Record<string, string> = {}) => {
      const response = await callApi(shire.url, method, route, body, headers);
      return {
        status: response.status,
        error: response.json.error as { code: string } | undefined,
        allow: response.headers.get("allow"),
      };
    };
    const badBodies = [
      { channels: { teams: false } },
      { channels: "teams" },
      { channels: 5 },
      { channels: null },
      { resources: "big" },
      JSON.parse('{"constructor": 1}'),
      JSON.parse('{"toString": "x"}'),
      JSON.parse('{"hasOwnProperty": true}'),
      {
        allowedIdentities: Array.from(
          { length: 2_000 },
          (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
        ),
      },
      { image: "docker.io/someone/openclaw:2026.9.6" },
    ];
    for (const body of badBodies) {
      const refused = await send("POST", "slugs/strict/install", JSON.stringify(body));
      expect(refused.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(refused.error?.code).toBe("InvalidRequest");
    }
    for (const slug of ["admins", "broker", "claw-x"])
      expect((await send("POST", `slugs/${slug}/install`, "{}")).status, slug).toBe(400);
    const huge = await send("POST", "slugs/strict/install", JSON.stringify({ tags: { big: "x".repeat(300_000) } }));
    expect(huge).toMatchObject({ status: 413, error: { code: "PayloadTooLarge" } });
    const wrongMethod = await send("GET", "slugs/strict/install");
    expect(wrongMethod).toMatchObject({ status: 405, error: { code: "MethodNotAllowed" }, allow: "POST" });
    expect(await send("DELETE", "slugs/strict")).toMatchObject({ status: 405, error: { code: "MethodNotAllowed" } });
    expect(await send("GET", "nothing/here")).toMatchObject({ status: 404, error: { code: "NotFound" } });
    expect(shire.writesSince(before)).toEqual([]);
    expect((await getJson(`${shire.url}/api/slugs/strict`)).status).toBe(404);
  });

  it("answers 409 naming the running operation when a slug is busy", async () => {
    shire.sandbox.setFaults({ lroDurationMs: { "Microsoft.App/managedEnvironments": 1500 } });
    try {
      const first = await postJson(`${shire.url}/api/slugs/busy/install`, {});
      expect(first.status).toBe(202);
      const second = await postJson(`${shire.url}/api/slugs/busy/install`, {});
      expect(second.status).toBe(409);
      expect((second.body.error as { code: string; message: string }).message).toContain(
        String(first.body.operationId),
      );
      const done = await waitForOperation(shire.url, String(first.body.operationId));
      expect(done.status).toBe("succeeded");
    } finally {
      shire.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("converges with each activity delivered twice", async () => {
    shire.host.engine.faults = { duplicateActivityDelivery: true };
    try {
      const operation = await install(shire.url, "twice");
      expect(operation.status).toBe("succeeded");
    } finally {
      shire.host.engine.faults = {};
    }
    expect(footprint(shire.sandbox, "twice")).toEqual(footprint(shire.sandbox, "demo"));
  });

  it("converges through 20% transient faults (500, 503, resets)", async () => {
    shire.sandbox.setFaults({ transientRate: 0.2, seed: 7 });
    let operation;
    try {
      operation = await install(shire.url, "flaky", {}, 230_000);
    } finally {
      shire.sandbox.setFaults({ transientRate: 0 });
    }
    expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe(
      "succeeded",
    );
    expect(
      shire.sandbox.requests().filter((request) => request.status === 0 || request.status >= 500).length,
    ).toBeGreaterThan(0);
    expect(footprint(shire.sandbox, "flaky")).toEqual(footprint(shire.sandbox, "demo"));
  }, 240_000);

  it("answers the plan through 20% transient faults without errors: its reads retry like the steps' do", async () => {
    const before = shire.mark();
    shire.sandbox.setFaults({ transientRate: 0.2, seed: 11 });
    try {
      for (let run = 0; run < 3; run++) {
        for (const slug of ["demo", "fresh"]) {
          const plan = await postJson(`${shire.url}/api/slugs/${slug}/plan`, {});
          expect(plan.status, `${slug} run ${run}`).toBe(200);
          const changes = plan.body.changes as { node: string; action: string; error?: string }[];
          expect(
            changes.filter((change) => change.action === "error"),
            `${slug} run ${run}`,
          ).toEqual([]);
          if (slug === "demo") expect((plan.body.summary as Record<string, number>).unchanged).toBe(changes.length);
        }
      }
    } finally {
      shire.sandbox.setFaults({ transientRate: 0 });
    }
    // The faults did strike, and nothing was written.
    expect(
      shire.sandbox
        .requests()
        .slice(before)
        .filter((request) => request.status === 0 || request.status >= 500).length,
    ).toBeGreaterThan(0);
    expect(shire.writesSince(before)).toEqual([]);
  }, 120_000);

  it("never stores a secret value in orchestration state, custom status, records or logs", async () => {
    const secrets = shire.sandbox.env.secrets.all();
    expect(secrets.length).toBeGreaterThan(10);
    const haystacks: { where: string; text: string }[] = [
      { where: "host logs", text: shire.logs.join("\n") },
      { where: "sandbox request log", text: fs.readFileSync(shire.logFile, "utf8") },
    ];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else haystacks.push({ where: full, text: fs.readFileSync(full).toString("latin1") });
      }
    };
    walk(shire.hostStateDir);
    const status = await getJson<unknown>(
      `${shire.url}/runtime/webhooks/durabletask/instances/slug-demo?showHistory=true&showHistoryOutput=true&showInput=true`,
    );
    haystacks.push({ where: "durable status API", text: JSON.stringify(status.body) });
    const exported = await getJson<unknown>(`${shire.url}/api/slugs/demo/template`);
    expect(exported.status).toBe(200);
    haystacks.push({ where: "exported template", text: JSON.stringify(exported.body) });
    expect(haystacks.some((haystack) => haystack.text.includes("gateway-token"))).toBe(true);
    for (const { where, text } of haystacks) {
      for (const secret of secrets) expect(text.includes(secret), `a secret value appears in ${where}`).toBe(false);
    }
  });
});
