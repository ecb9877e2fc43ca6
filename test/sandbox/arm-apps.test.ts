/** Container Apps rules through the SDK the app uses: what PUT refuses, what fails provisioning, revisions, secrets, deletes refused while in use. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerApp } from "@azure/arm-appcontainers";
import { startSandbox, type Sandbox } from "../../src/sandbox";
import { AzureClients } from "../../src/azure/clients";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { API, ROLES, armRaw, environment, errorOf, group, ids, vault } from "./arm-helpers";

let sandbox: Sandbox;
let clients: AzureClients;
let environmentId: string;
const clock = new ManualClock();
const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "shire-arm-apps-")), "requests.jsonl");

beforeAll(async () => {
  sandbox = await startSandbox({ clock, logFile });
  clients = new AzureClients(sandbox.context());
  await group(clients, "rg-apps");
  environmentId = (await environment(clients, "rg-apps", "cae-apps")).id!;
});
afterAll(async () => sandbox?.stop());

const container = (extra: Record<string, unknown> = {}) => ({
  name: "main",
  image: "img:1",
  resources: { cpu: 0.5, memory: "1Gi" },
  ...extra,
});
const app = (extra: Partial<ContainerApp> = {}, template: Record<string, unknown> = {}): ContainerApp => ({
  location: "westeurope",
  environmentId,
  ...extra,
  template: { containers: [container()], scale: { minReplicas: 1, maxReplicas: 1 }, ...template },
});
const put = (name: string, body: ContainerApp) =>
  clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps", name, body);

describe("what a PUT refuses", () => {
  it("secret references to nothing, duplicate container names, traffic that does not add up, an app outside its environment's region", async () => {
    expect(
      await errorOf(
        put(
          "app-refused",
          app({}, { containers: [container({ env: [{ name: "TOKEN", secretRef: "missing-secret" }] })] }),
        ),
      ),
    ).toMatchObject({
      statusCode: 400,
      code: "ContainerAppSecretRefNotFound",
      message: "SecretRef 'missing-secret' defined for container 'main' not found.",
    });
    const half = { cpu: 0.25, memory: "0.5Gi" };
    expect(
      await errorOf(
        put(
          "app-refused",
          app({}, { containers: [container({ resources: half }), container({ image: "img:2", resources: half })] }),
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppDuplicateContainerName" });
    expect(
      await errorOf(
        put(
          "app-refused",
          app({ configuration: { ingress: { targetPort: 80, traffic: [{ latestRevision: true, weight: 30 }] } } }),
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppInvalidTrafficWeight" });
    expect(await errorOf(put("app-refused", app({ location: "eastus" })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppLocationMismatch",
    });
    expect(
      await errorOf(
        put(
          "app-refused",
          app({
            configuration: {
              secrets: [{ name: "kv", keyVaultUrl: "https://kv-x.vault.azure.net/secrets/a", identity: "system" }],
            },
          }),
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppSecretInvalid" });
    expect(
      await errorOf(put("app-refused", app({ configuration: { registries: [{ server: "acr1.azurecr.io" }] } }))),
    ).toMatchObject({ statusCode: 400 });
  });

  it("probe settings out of Container Apps' ranges, in Azure's error shape", async () => {
    const probe = (settings: Record<string, unknown>) =>
      app({}, { containers: [container({ probes: [{ httpGet: { path: "/", port: 8080 }, ...settings }] })] });
    expect(await errorOf(put("app-probes", probe({ type: "Liveness", failureThreshold: 31 })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppProbeFailureThresholdOutOfRange",
      message: "Container 'main' 'Liveness' probe's FailureThreshold must be in the range of ['1', '30'].",
    });
    expect(await errorOf(put("app-probes", probe({ type: "Liveness", successThreshold: 2 })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppProbeSuccessThresholdOutOfRange",
    });
    expect(await errorOf(put("app-probes", probe({ type: "Readiness", periodSeconds: 241 })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppProbePeriodSecondsOutOfRange",
    });
    const twice = app(
      {},
      {
        containers: [
          container({
            probes: [
              { type: "Liveness", tcpSocket: { port: 1 } },
              { type: "Liveness", tcpSocket: { port: 2 } },
            ],
          }),
        ],
      },
    );
    expect(await errorOf(put("app-probes", twice))).toMatchObject({ statusCode: 400 });
    // The startup probe Shire sends (failureThreshold 30) is within what Azure takes for startup probes (up to 240).
    const startup = await put(
      "app-probes",
      probe({ type: "Startup", initialDelaySeconds: 5, periodSeconds: 5, failureThreshold: 30, timeoutSeconds: 3 }),
    );
    expect(startup.provisioningState).toBe("Succeeded");
  });
});

describe("provisioning", () => {
  it("makes no revision when provisioning fails, and leaves the latest revision where it was", async () => {
    const first = await put("app-failing", app());
    sandbox.setFaults({ lroFailure: { "Microsoft.App/containerApps": 1 } });
    try {
      await errorOf(put("app-failing", app({}, { containers: [container({ image: "img:broken" })] })));
    } finally {
      sandbox.setFaults({ lroFailure: {} });
    }
    const after = await clients.containerApps.containerApps.get("rg-apps", "app-failing");
    expect(after.provisioningState).toBe("Failed");
    expect(after.latestRevisionName).toBe(first.latestRevisionName);
    expect(after.latestReadyRevisionName).toBe(first.latestReadyRevisionName);
    const revisions = [];
    for await (const revision of clients.containerApps.containerAppsRevisions.listRevisions("rg-apps", "app-failing"))
      revisions.push({ name: revision.name, active: revision.active });
    expect(revisions).toEqual([{ name: first.latestRevisionName, active: true }]);
    // The same template again provisions, and now makes the revision.
    const retried = await put("app-failing", app({}, { containers: [container({ image: "img:broken" })] }));
    expect(retried.provisioningState).toBe("Succeeded");
    expect(retried.latestRevisionName).not.toBe(first.latestRevisionName);
  });

  it("fails provisioning when a registry's identity has no AcrPull on it, and lists the identity's ids", async () => {
    await clients.containerRegistry.registries.create("rg-apps", "acrpullcheck", {
      location: "westeurope",
      sku: { name: "Basic" },
    });
    const registry = await clients.containerRegistry.registries.get("rg-apps", "acrpullcheck");
    const identity = await clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-puller", {
      location: "westeurope",
    });
    const pulling = app(
      {
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
        configuration: { registries: [{ server: registry.loginServer, identity: identity.id }] },
      },
      { containers: [container({ image: `${registry.loginServer}/img:1` })] },
    );
    const failure = await errorOf(put("app-pull", pulling));
    expect(failure.message).toMatch(/AcrPull/);
    await clients.authorization.roleAssignments.create(registry.id!, "9b8a7c6d-0000-4000-8000-000000000001", {
      roleDefinitionId: ids(sandbox).role(ROLES.acrPull),
      principalId: identity.principalId!,
      principalType: "ServicePrincipal",
    });
    const pulled = await put("app-pull", pulling);
    expect(pulled.provisioningState).toBe("Succeeded");
    expect(Object.values(pulled.identity?.userAssignedIdentities ?? {})[0]).toMatchObject({
      principalId: identity.principalId,
      clientId: identity.clientId,
    });
  });

  it("fails a Key Vault reference until the identity's role has propagated", async () => {
    const identity = await clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-fresh-role", {
      location: "westeurope",
    });
    const target = await vault(sandbox, clients, "rg-apps", "kv-propagation-1");
    sandbox.setFaults({ rbacPropagationMs: 60_000 });
    try {
      await clients.authorization.roleAssignments.create(target.id!, "9b8a7c6d-0000-4000-8000-000000000003", {
        roleDefinitionId: ids(sandbox).role(ROLES.secretsUser),
        principalId: identity.principalId!,
        principalType: "ServicePrincipal",
      });
      const referencing = app({
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
        configuration: {
          secrets: [
            {
              name: "token",
              keyVaultUrl: `${keyVaultUrl(sandbox.endpoints, "kv-propagation-1")}secrets/token`,
              identity: identity.id,
            },
          ],
        },
      });
      expect((await errorOf(put("app-propagation", referencing))).message).toMatch(/no role that can read secrets/);
      clock.advance(60_000);
      expect((await put("app-propagation", referencing)).provisioningState).toBe("Succeeded");
    } finally {
      sandbox.setFaults({ rbacPropagationMs: 0 });
    }
  });

  it("needs an access policy, not a role, for a Key Vault reference to an access-policy vault", async () => {
    const identity = await clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-reader", {
      location: "westeurope",
    });
    const target = await vault(sandbox, clients, "rg-apps", "kv-policies-1", { enableRbacAuthorization: false });
    await clients.authorization.roleAssignments.create(target.id!, "9b8a7c6d-0000-4000-8000-000000000002", {
      roleDefinitionId: ids(sandbox).role(ROLES.secretsUser),
      principalId: identity.principalId!,
      principalType: "ServicePrincipal",
    });
    const referencing = app({
      identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
      configuration: {
        secrets: [
          {
            name: "token",
            keyVaultUrl: `${keyVaultUrl(sandbox.endpoints, "kv-policies-1")}secrets/token`,
            identity: identity.id,
          },
        ],
      },
    });
    expect((await errorOf(put("app-policies", referencing))).message).toMatch(/access policies/);
    await vault(sandbox, clients, "rg-apps", "kv-policies-1", {
      enableRbacAuthorization: false,
      accessPolicies: [
        { tenantId: sandbox.env.tenantId, objectId: identity.principalId!, permissions: { secrets: ["get"] } },
      ],
    });
    expect((await put("app-policies", referencing)).provisioningState).toBe("Succeeded");
  });
});

describe("PATCH and revisions", () => {
  it("checks a PATCH like a PUT, makes a revision for a template change, and activates / deactivates revisions", async () => {
    const first = await put("app-patched", app());
    expect(
      await errorOf(
        clients.containerApps.containerApps.beginUpdateAndWait("rg-apps", "app-patched", {
          location: "westeurope",
          template: { containers: [container({ resources: { cpu: 9, memory: "1Gi" } })] },
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppInvalidResourceTotal" });
    await clients.containerApps.containerApps.beginUpdateAndWait("rg-apps", "app-patched", {
      location: "westeurope",
      template: { containers: [container({ image: "img:2" })] },
    });
    const patched = await clients.containerApps.containerApps.get("rg-apps", "app-patched");
    expect(patched.template?.containers?.[0].image).toBe("img:2");
    // What the PATCH did not name stays: the scale settings of the first PUT.
    expect(patched.template?.scale).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
    expect(patched.latestRevisionName).not.toBe(first.latestRevisionName);
    await clients.containerApps.containerAppsRevisions.activateRevision(
      "rg-apps",
      "app-patched",
      first.latestRevisionName!,
    );
    expect(
      (
        await clients.containerApps.containerAppsRevisions.getRevision(
          "rg-apps",
          "app-patched",
          first.latestRevisionName!,
        )
      ).active,
    ).toBe(true);
    await clients.containerApps.containerAppsRevisions.deactivateRevision(
      "rg-apps",
      "app-patched",
      first.latestRevisionName!,
    );
    expect(
      (
        await clients.containerApps.containerAppsRevisions.getRevision(
          "rg-apps",
          "app-patched",
          first.latestRevisionName!,
        )
      ).active,
    ).toBe(false);
  });
});

describe("stop and start", () => {
  const revisionsOf = async (name: string) => {
    const revisions = [];
    for await (const revision of clients.containerApps.containerAppsRevisions.listRevisions("rg-apps", name))
      revisions.push({
        name: revision.name,
        active: revision.active,
        replicas: revision.replicas,
        state: revision.runningState,
      });
    return revisions;
  };

  it("stops an app as a long-running operation (202 + Location), its revisions without replicas, and starts it again with the same FQDN", async () => {
    const created = await put(
      "app-stopping",
      app({ configuration: { ingress: { external: true, targetPort: 8080 } } }),
    );
    expect(created.runningStatus).toBe("Running");
    const fqdn = created.configuration?.ingress?.fqdn;
    expect(fqdn).toBeTruthy();
    const revision = created.latestRevisionName!;
    sandbox.setFaults({ lroDurationMs: { "Microsoft.App/containerApps": 30_000 } });
    try {
      // The REST spec's shape: 202 with Location only (final state via Location), no body.
      const raw = await armRaw(
        sandbox,
        "POST",
        `/subscriptions/${sandbox.env.subscriptionId}/resourceGroups/rg-apps/providers/Microsoft.App/containerApps/app-stopping/stop?api-version=${API.app}`,
      );
      expect(raw.status).toBe(202);
      expect(raw.headers.location).toMatch(/\/operationResults\//);
      expect(raw.headers["azure-asyncoperation"]).toBeUndefined();
      expect(raw.body).toBeUndefined();
      // While it stops: Progressing, the revision still runs, and other writes wait their turn.
      expect((await clients.containerApps.containerApps.get("rg-apps", "app-stopping")).runningStatus).toBe(
        "Progressing",
      );
      expect(await revisionsOf("app-stopping")).toEqual([
        { name: revision, active: true, replicas: 1, state: "Running" },
      ]);
      expect(await errorOf(put("app-stopping", app()))).toMatchObject({
        statusCode: 409,
        code: "ContainerAppLockConflict",
      });
      expect((await armRaw(sandbox, "GET", String(raw.headers.location))).status).toBe(202);
      clock.advance(30_000);
      const done = await armRaw(sandbox, "GET", String(raw.headers.location));
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ name: "app-stopping", properties: { runningStatus: "Stopped" } });
    } finally {
      sandbox.setFaults({ lroDurationMs: {} });
    }
    const stopped = await clients.containerApps.containerApps.get("rg-apps", "app-stopping");
    expect(stopped.runningStatus).toBe("Stopped");
    expect(stopped.provisioningState).toBe("Succeeded");
    expect(stopped.configuration?.ingress?.fqdn).toBe(fqdn);
    expect(await revisionsOf("app-stopping")).toEqual([
      { name: revision, active: true, replicas: 0, state: "Stopped" },
    ]);
    // Stopping a stopped app changes nothing; the SDK's poller takes the 200 at once.
    expect((await clients.containerApps.containerApps.beginStopAndWait("rg-apps", "app-stopping")).runningStatus).toBe(
      "Stopped",
    );
    // A template change while stopped makes a revision that does not run either.
    await put(
      "app-stopping",
      app(
        { configuration: { ingress: { external: true, targetPort: 8080 } } },
        { containers: [container({ image: "img:2" })] },
      ),
    );
    const changed = await clients.containerApps.containerApps.get("rg-apps", "app-stopping");
    expect(changed.runningStatus).toBe("Stopped");
    expect(changed.latestRevisionName).not.toBe(revision);
    expect(
      (await revisionsOf("app-stopping")).find((entry) => entry.name === changed.latestRevisionName),
    ).toMatchObject({
      replicas: 0,
      state: "Stopped",
    });

    const started = await clients.containerApps.containerApps.beginStartAndWait("rg-apps", "app-stopping");
    expect(started).toMatchObject({ name: "app-stopping", runningStatus: "Running" });
    expect(started.configuration?.ingress?.fqdn).toBe(fqdn);
    const after = await revisionsOf("app-stopping");
    expect(after.find((entry) => entry.name === changed.latestRevisionName)).toMatchObject({
      active: true,
      replicas: 1,
      state: "Running",
    });
    // The revision the template change replaced stays inactive and without replicas.
    expect(after.find((entry) => entry.name === revision)).toMatchObject({ active: false, replicas: 0 });
  });
});

describe("inline secrets", () => {
  it("never shows a value on GET, returns it from listSecrets, and keeps it out of the request log", async () => {
    const value = "inline-secret-value-4c1d";
    await put(
      "app-secrets",
      app(
        { tags: { echo: value }, configuration: { secrets: [{ name: "tok", value }] } },
        { containers: [container({ env: [{ name: "TOKEN", secretRef: "tok" }] })] },
      ),
    );
    const shown = await clients.containerApps.containerApps.get("rg-apps", "app-secrets");
    expect(shown.configuration?.secrets).toEqual([{ name: "tok" }]);
    const inspected = (
      sandbox.inspect().arm as { resources: { name: string; properties: { configuration?: unknown } }[] }
    ).resources.find((resource) => resource.name === "app-secrets");
    expect(JSON.stringify(inspected?.properties.configuration)).not.toContain(value);
    expect((await clients.containerApps.containerApps.listSecrets("rg-apps", "app-secrets")).value).toEqual([
      { name: "tok", value },
    ]);
    // The value reaches the log only inside the PUT body, under `value` and echoed in a tag: both redacted.
    const log = fs.readFileSync(logFile, "utf8");
    expect(log).toContain('"echo":"[redacted]"');
    expect(log).not.toContain(value);
  });
});

describe("deletes Container Apps refuses", () => {
  it("an environment that still holds apps, an environment storage an app's volume uses", async () => {
    await group(clients, "rg-apps-del");
    const env = await environment(clients, "rg-apps-del", "cae-del");
    await clients.storage.storageAccounts.create("rg-apps-del", "stappsdel1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    await clients.storage.fileShares.create("rg-apps-del", "stappsdel1", "state", {});
    const keys = await clients.storage.storageAccounts.listKeys("rg-apps-del", "stappsdel1");
    await clients.containerApps.managedEnvironmentsStorages.createOrUpdate("rg-apps-del", "cae-del", "state", {
      properties: {
        azureFile: {
          accountName: "stappsdel1",
          accountKey: keys.keys![0].value,
          shareName: "state",
          accessMode: "ReadWrite",
        },
      },
    });
    await clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps-del", "app-del", {
      location: "westeurope",
      environmentId: env.id,
      template: {
        containers: [container({ volumeMounts: [{ volumeName: "state", mountPath: "/state" }] })],
        volumes: [{ name: "state", storageType: "AzureFile", storageName: "state" }],
      },
    });
    expect(
      await errorOf(clients.containerApps.managedEnvironments.beginDeleteAndWait("rg-apps-del", "cae-del")),
    ).toMatchObject({
      statusCode: 409,
      code: "ManagedEnvironmentHasContainerApps",
      message: "The specified environment cae-del cannot be deleted because it still contains 1 ContainerApps.",
    });
    expect(
      await errorOf(clients.containerApps.managedEnvironmentsStorages.delete("rg-apps-del", "cae-del", "state")),
    ).toMatchObject({
      statusCode: 409,
      message: "Cannot delete Managed environment storage 'state' because it's still in use.",
    });
    await clients.containerApps.containerApps.beginDeleteAndWait("rg-apps-del", "app-del");
    await clients.containerApps.managedEnvironmentsStorages.delete("rg-apps-del", "cae-del", "state");
    await clients.containerApps.managedEnvironments.beginDeleteAndWait("rg-apps-del", "cae-del");
  });
});
