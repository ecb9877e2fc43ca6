/** Container Apps rules through the SDK the app uses: what PUT refuses, what fails provisioning, revisions, secrets, deletes refused while in use. */
import fs from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { ContainerApp } from "@azure/arm-appcontainers";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { API, armRaw, ids } from "./arm-helpers";
import { ROLES, environment, failure, group, vault } from "./helpers";

let environmentId: string;
const clock = new ManualClock();

const azure = useSandbox({ clock, logFile: true });
beforeAll(async () => {
  await group(azure.clients, "rg-apps");
  environmentId = (await environment(azure.clients, "rg-apps", "cae-apps")).id!;
});

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
  azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps", name, body);

describe("what a PUT refuses", () => {
  it("secret references to nothing, duplicate container names, traffic that does not add up, an app outside its environment's region", async () => {
    expect(
      await failure(
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
      await failure(
        put(
          "app-refused",
          app({}, { containers: [container({ resources: half }), container({ image: "img:2", resources: half })] }),
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppDuplicateContainerName" });
    expect(
      await failure(
        put(
          "app-refused",
          app({ configuration: { ingress: { targetPort: 80, traffic: [{ latestRevision: true, weight: 30 }] } } }),
        ),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppInvalidTrafficWeight" });
    expect(await failure(put("app-refused", app({ location: "eastus" })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppLocationMismatch",
    });
    expect(
      await failure(
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
      await failure(put("app-refused", app({ configuration: { registries: [{ server: "acr1.azurecr.io" }] } }))),
    ).toMatchObject({ statusCode: 400 });
  });

  it("probe settings out of Container Apps' ranges, in Azure's error shape", async () => {
    const probe = (settings: Record<string, unknown>) =>
      app({}, { containers: [container({ probes: [{ httpGet: { path: "/", port: 8080 }, ...settings }] })] });
    expect(await failure(put("app-probes", probe({ type: "Liveness", failureThreshold: 31 })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppProbeFailureThresholdOutOfRange",
      message: "Container 'main' 'Liveness' probe's FailureThreshold must be in the range of ['1', '30'].",
    });
    expect(await failure(put("app-probes", probe({ type: "Liveness", successThreshold: 2 })))).toMatchObject({
      statusCode: 400,
      code: "ContainerAppProbeSuccessThresholdOutOfRange",
    });
    expect(await failure(put("app-probes", probe({ type: "Readiness", periodSeconds: 241 })))).toMatchObject({
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
    expect(await failure(put("app-probes", twice))).toMatchObject({ statusCode: 400 });
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
    azure.sandbox.setFaults({ lroFailure: { "Microsoft.App/containerApps": 1 } });
    try {
      await failure(put("app-failing", app({}, { containers: [container({ image: "img:broken" })] })));
    } finally {
      azure.sandbox.setFaults({ lroFailure: {} });
    }
    const after = await azure.clients.containerApps.containerApps.get("rg-apps", "app-failing");
    expect(after.provisioningState).toBe("Failed");
    expect(after.latestRevisionName).toBe(first.latestRevisionName);
    expect(after.latestReadyRevisionName).toBe(first.latestReadyRevisionName);
    const revisions = [];
    for await (const revision of azure.clients.containerApps.containerAppsRevisions.listRevisions(
      "rg-apps",
      "app-failing",
    ))
      revisions.push({ name: revision.name, active: revision.active });
    expect(revisions).toEqual([{ name: first.latestRevisionName, active: true }]);
    // The same template again provisions, and now makes the revision.
    const retried = await put("app-failing", app({}, { containers: [container({ image: "img:broken" })] }));
    expect(retried.provisioningState).toBe("Succeeded");
    expect(retried.latestRevisionName).not.toBe(first.latestRevisionName);
  });

  it("fails provisioning when a registry's identity has no AcrPull on it, and lists the identity's ids", async () => {
    await azure.clients.containerRegistry.registries.create("rg-apps", "acrpullcheck", {
      location: "westeurope",
      sku: { name: "Basic" },
    });
    const registry = await azure.clients.containerRegistry.registries.get("rg-apps", "acrpullcheck");
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-puller", {
      location: "westeurope",
    });
    const pulling = app(
      {
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
        configuration: { registries: [{ server: registry.loginServer, identity: identity.id }] },
      },
      { containers: [container({ image: `${registry.loginServer}/img:1` })] },
    );
    const refused = await failure(put("app-pull", pulling));
    expect(refused.message).toMatch(/AcrPull/);
    await azure.clients.authorization.roleAssignments.create(registry.id!, "9b8a7c6d-0000-4000-8000-000000000001", {
      roleDefinitionId: ids(azure.sandbox).role(ROLES.acrPull),
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
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate(
      "rg-apps",
      "id-fresh-role",
      {
        location: "westeurope",
      },
    );
    const target = await vault(azure, "rg-apps", "kv-propagation-1");
    azure.sandbox.setFaults({ rbacPropagationMs: 60_000 });
    try {
      await azure.clients.authorization.roleAssignments.create(target.id!, "9b8a7c6d-0000-4000-8000-000000000003", {
        roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsUser),
        principalId: identity.principalId!,
        principalType: "ServicePrincipal",
      });
      const referencing = app({
        identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
        configuration: {
          secrets: [
            {
              name: "token",
              keyVaultUrl: `${keyVaultUrl(azure.sandbox.endpoints, "kv-propagation-1")}secrets/token`,
              identity: identity.id,
            },
          ],
        },
      });
      expect((await failure(put("app-propagation", referencing))).message).toMatch(/no role that can read secrets/);
      clock.advance(60_000);
      expect((await put("app-propagation", referencing)).provisioningState).toBe("Succeeded");
    } finally {
      azure.sandbox.setFaults({ rbacPropagationMs: 0 });
    }
  });

  it("needs an access policy, not a role, for a Key Vault reference to an access-policy vault", async () => {
    const identity = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate("rg-apps", "id-reader", {
      location: "westeurope",
    });
    const target = await vault(azure, "rg-apps", "kv-policies-1", { enableRbacAuthorization: false });
    await azure.clients.authorization.roleAssignments.create(target.id!, "9b8a7c6d-0000-4000-8000-000000000002", {
      roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsUser),
      principalId: identity.principalId!,
      principalType: "ServicePrincipal",
    });
    const referencing = app({
      identity: { type: "UserAssigned", userAssignedIdentities: { [identity.id!]: {} } },
      configuration: {
        secrets: [
          {
            name: "token",
            keyVaultUrl: `${keyVaultUrl(azure.sandbox.endpoints, "kv-policies-1")}secrets/token`,
            identity: identity.id,
          },
        ],
      },
    });
    expect((await failure(put("app-policies", referencing))).message).toMatch(/access policies/);
    await vault(azure, "rg-apps", "kv-policies-1", {
      enableRbacAuthorization: false,
      accessPolicies: [
        { tenantId: azure.sandbox.env.tenantId, objectId: identity.principalId!, permissions: { secrets: ["get"] } },
      ],
    });
    expect((await put("app-policies", referencing)).provisioningState).toBe("Succeeded");
  });
});

describe("PATCH and revisions", () => {
  it("checks a PATCH like a PUT, makes a revision for a template change, and activates / deactivates revisions", async () => {
    const first = await put("app-patched", app());
    expect(
      await failure(
        azure.clients.containerApps.containerApps.beginUpdateAndWait("rg-apps", "app-patched", {
          location: "westeurope",
          template: { containers: [container({ resources: { cpu: 9, memory: "1Gi" } })] },
        }),
      ),
    ).toMatchObject({ statusCode: 400, code: "ContainerAppInvalidResourceTotal" });
    await azure.clients.containerApps.containerApps.beginUpdateAndWait("rg-apps", "app-patched", {
      location: "westeurope",
      template: { containers: [container({ image: "img:2" })] },
    });
    const patched = await azure.clients.containerApps.containerApps.get("rg-apps", "app-patched");
    expect(patched.template?.containers?.[0].image).toBe("img:2");
    // What the PATCH did not name stays: the scale settings of the first PUT.
    expect(patched.template?.scale).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
    expect(patched.latestRevisionName).not.toBe(first.latestRevisionName);
    await azure.clients.containerApps.containerAppsRevisions.activateRevision(
      "rg-apps",
      "app-patched",
      first.latestRevisionName!,
    );
    expect(
      (
        await azure.clients.containerApps.containerAppsRevisions.getRevision(
          "rg-apps",
          "app-patched",
          first.latestRevisionName!,
        )
      ).active,
    ).toBe(true);
    await azure.clients.containerApps.containerAppsRevisions.deactivateRevision(
      "rg-apps",
      "app-patched",
      first.latestRevisionName!,
    );
    expect(
      (
        await azure.clients.containerApps.containerAppsRevisions.getRevision(
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
    for await (const revision of azure.clients.containerApps.containerAppsRevisions.listRevisions("rg-apps", name))
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
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.App/containerApps": 30_000 } });
    try {
      // The REST spec's shape: 202 with Location only (final state via Location), no body.
      const raw = await armRaw(
        azure.sandbox,
        "POST",
        `/subscriptions/${azure.sandbox.env.subscriptionId}/resourceGroups/rg-apps/providers/Microsoft.App/containerApps/app-stopping/stop?api-version=${API.app}`,
      );
      expect(raw.status).toBe(202);
      expect(raw.headers.location).toMatch(/\/operationResults\//);
      expect(raw.headers["azure-asyncoperation"]).toBeUndefined();
      expect(raw.body).toBeUndefined();
      // While it stops: Progressing, the revision still runs, and other writes wait their turn.
      expect((await azure.clients.containerApps.containerApps.get("rg-apps", "app-stopping")).runningStatus).toBe(
        "Progressing",
      );
      expect(await revisionsOf("app-stopping")).toEqual([
        { name: revision, active: true, replicas: 1, state: "Running" },
      ]);
      expect(await failure(put("app-stopping", app()))).toMatchObject({
        statusCode: 409,
        code: "ContainerAppLockConflict",
      });
      expect((await armRaw(azure.sandbox, "GET", String(raw.headers.location))).status).toBe(202);
      clock.advance(30_000);
      const done = await armRaw(azure.sandbox, "GET", String(raw.headers.location));
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ name: "app-stopping", properties: { runningStatus: "Stopped" } });
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
    const stopped = await azure.clients.containerApps.containerApps.get("rg-apps", "app-stopping");
    expect(stopped.runningStatus).toBe("Stopped");
    expect(stopped.provisioningState).toBe("Succeeded");
    expect(stopped.configuration?.ingress?.fqdn).toBe(fqdn);
    expect(await revisionsOf("app-stopping")).toEqual([
      { name: revision, active: true, replicas: 0, state: "Stopped" },
    ]);
    // Stopping a stopped app changes nothing; the SDK's poller takes the 200 at once.
    expect(
      (await azure.clients.containerApps.containerApps.beginStopAndWait("rg-apps", "app-stopping")).runningStatus,
    ).toBe("Stopped");
    // A template change while stopped makes a revision that does not run either.
    await put(
      "app-stopping",
      app(
        { configuration: { ingress: { external: true, targetPort: 8080 } } },
        { containers: [container({ image: "img:2" })] },
      ),
    );
    const changed = await azure.clients.containerApps.containerApps.get("rg-apps", "app-stopping");
    expect(changed.runningStatus).toBe("Stopped");
    expect(changed.latestRevisionName).not.toBe(revision);
    expect(
      (await revisionsOf("app-stopping")).find((entry) => entry.name === changed.latestRevisionName),
    ).toMatchObject({
      replicas: 0,
      state: "Stopped",
    });

    const started = await azure.clients.containerApps.containerApps.beginStartAndWait("rg-apps", "app-stopping");
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
    const shown = await azure.clients.containerApps.containerApps.get("rg-apps", "app-secrets");
    expect(shown.configuration?.secrets).toEqual([{ name: "tok" }]);
    const inspected = (
      azure.sandbox.inspect().arm as { resources: { name: string; properties: { configuration?: unknown } }[] }
    ).resources.find((resource) => resource.name === "app-secrets");
    expect(JSON.stringify(inspected?.properties.configuration)).not.toContain(value);
    expect((await azure.clients.containerApps.containerApps.listSecrets("rg-apps", "app-secrets")).value).toEqual([
      { name: "tok", value },
    ]);
    // The value reaches the log only inside the PUT body, under `value` and echoed in a tag: both redacted.
    const log = fs.readFileSync(azure.logFile, "utf8");
    expect(log).toContain('"echo":"[redacted]"');
    expect(log).not.toContain(value);
  });
});

describe("deletes Container Apps refuses", () => {
  it("an environment that still holds apps, an environment storage an app's volume uses", async () => {
    await group(azure.clients, "rg-apps-del");
    const env = await environment(azure.clients, "rg-apps-del", "cae-del");
    await azure.clients.storage.storageAccounts.create("rg-apps-del", "stappsdel1", {
      location: "westeurope",
      sku: { name: "Standard_LRS" },
      kind: "StorageV2",
    });
    await azure.clients.storage.fileShares.create("rg-apps-del", "stappsdel1", "state", {});
    const keys = await azure.clients.storage.storageAccounts.listKeys("rg-apps-del", "stappsdel1");
    await azure.clients.containerApps.managedEnvironmentsStorages.createOrUpdate("rg-apps-del", "cae-del", "state", {
      properties: {
        azureFile: {
          accountName: "stappsdel1",
          accountKey: keys.keys![0].value,
          shareName: "state",
          accessMode: "ReadWrite",
        },
      },
    });
    await azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait("rg-apps-del", "app-del", {
      location: "westeurope",
      environmentId: env.id,
      template: {
        containers: [container({ volumeMounts: [{ volumeName: "state", mountPath: "/state" }] })],
        volumes: [{ name: "state", storageType: "AzureFile", storageName: "state" }],
      },
    });
    expect(
      await failure(azure.clients.containerApps.managedEnvironments.beginDeleteAndWait("rg-apps-del", "cae-del")),
    ).toMatchObject({
      statusCode: 409,
      code: "ManagedEnvironmentHasContainerApps",
      message: "The specified environment cae-del cannot be deleted because it still contains 1 ContainerApps.",
    });
    expect(
      await failure(azure.clients.containerApps.managedEnvironmentsStorages.delete("rg-apps-del", "cae-del", "state")),
    ).toMatchObject({
      statusCode: 409,
      message: "Cannot delete Managed environment storage 'state' because it's still in use.",
    });
    await azure.clients.containerApps.containerApps.beginDeleteAndWait("rg-apps-del", "app-del");
    await azure.clients.containerApps.managedEnvironmentsStorages.delete("rg-apps-del", "cae-del", "state");
    await azure.clients.containerApps.managedEnvironments.beginDeleteAndWait("rg-apps-del", "cae-del");
  });
});
