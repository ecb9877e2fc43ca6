/**
 * Container Apps replicas and what they hold, through the SDK the app uses: a replica reads its Key
 * Vault references and mounts its storage when it starts and keeps them until it is replaced; a
 * restart replaces it; a reference that resolves to nothing, a regenerated account key or an
 * injected crash make it fail; the data-plane check says which versions each replica holds and
 * whether each credential still works where it is used.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Replica } from "@azure/arm-appcontainers";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { ids } from "./arm-helpers";
import { ROLES, environment, grantBroker, group, raw, vault } from "./helpers";

const RG = "rg-replicas";
const VAULT = "kv-replicas-1";
const ACCOUNT = "streplicas1";
const clock = new ManualClock();
const azure = useSandbox({ clock });

let environmentId: string;
let identityId: string;
let appId: string;

const apps = () => azure.clients.containerApps;
const secrets = () => azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, VAULT));

async function replicas(revision: string): Promise<Replica[]> {
  return (await apps().containerAppsRevisionReplicas.listReplicas(RG, "app-held", revision)).value;
}
async function latestRevision(): Promise<string> {
  return (await apps().containerApps.get(RG, "app-held")).latestRevisionName!;
}
async function storageKey(name: "key1" | "key2"): Promise<string> {
  const keys = await azure.clients.storage.storageAccounts.listKeys(RG, ACCOUNT);
  return keys.keys!.find((key) => key.keyName === name)!.value!;
}
async function registerStorage(keyName: "key1" | "key2"): Promise<void> {
  await apps().managedEnvironmentsStorages.createOrUpdate(RG, "cae-replicas", "state", {
    properties: {
      azureFile: {
        accountName: ACCOUNT,
        accountKey: await storageKey(keyName),
        shareName: "state",
        accessMode: "ReadWrite",
      },
    },
  });
}

beforeAll(async () => {
  await group(azure.clients, RG);
  environmentId = (await environment(azure.clients, RG, "cae-replicas")).id!;
  const target = await vault(azure, RG, VAULT);
  await grantBroker(azure, target.id!, "7a000000-0000-4000-8000-000000000001");
  const uami = await azure.clients.managedIdentity.userAssignedIdentities.createOrUpdate(RG, "id-replicas", {
    location: "westeurope",
  });
  identityId = uami.id!;
  await azure.clients.authorization.roleAssignments.create(target.id!, "7a000000-0000-4000-8000-000000000002", {
    roleDefinitionId: ids(azure.sandbox).role(ROLES.secretsUser),
    principalId: uami.principalId!,
    principalType: "ServicePrincipal",
  });
  await secrets().setSecret("gateway-token", "token-one");
  await azure.clients.storage.storageAccounts.beginCreateAndWait(RG, ACCOUNT, {
    location: "westeurope",
    kind: "StorageV2",
    sku: { name: "Standard_LRS" },
  });
  await azure.clients.storage.fileShares.create(RG, ACCOUNT, "state", {});
  await registerStorage("key1");
  const app = await apps().containerApps.beginCreateOrUpdateAndWait(RG, "app-held", {
    location: "westeurope",
    environmentId,
    identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
    configuration: {
      secrets: [
        {
          name: "gateway-token",
          keyVaultUrl: `${keyVaultUrl(azure.sandbox.endpoints, VAULT)}secrets/gateway-token`,
          identity: identityId,
        },
      ],
    },
    template: {
      containers: [
        {
          name: "main",
          image: "img:1",
          resources: { cpu: 0.5, memory: "1Gi" },
          env: [{ name: "OPENCLAW_GATEWAY_TOKEN", secretRef: "gateway-token" }],
          volumeMounts: [{ volumeName: "state", mountPath: "/state" }],
        },
      ],
      volumes: [{ name: "state", storageType: "AzureFile", storageName: "state" }],
      scale: { minReplicas: 1, maxReplicas: 1 },
    },
  });
  appId = app.id!;
});

describe("replicas", () => {
  it("lists the running replica of the active revision, with its containers ready", async () => {
    const revision = await latestRevision();
    const [replica, ...others] = await replicas(revision);
    expect(others).toEqual([]);
    expect(replica.name).toMatch(new RegExp(`^${revision}-`));
    expect(replica.runningState).toBe("Running");
    expect(replica.createdTime).toBeInstanceOf(Date);
    expect(replica.containers?.map((container) => ({ name: container.name, ready: container.ready }))).toEqual([
      { name: "main", ready: true },
    ]);
    const single = await apps().containerAppsRevisionReplicas.getReplica(RG, "app-held", revision, replica.name!);
    expect(single.name).toBe(replica.name);
  });

  it("keeps the secret version it started with until a restart replaces it", async () => {
    const revision = await latestRevision();
    const [before] = await replicas(revision);
    const first = azure.sandbox.apps.check(appId).replicas[0].secrets["gateway-token"];
    expect(first.latest).toBe(true);
    await secrets().setSecret("gateway-token", "token-two");
    // The running replica still holds (and the gateway still accepts) the first token.
    expect(azure.sandbox.apps.check(appId).replicas[0].secrets["gateway-token"]).toMatchObject({
      version: first.version,
      latest: false,
    });
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-one")).toBe(true);
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-two")).toBe(false);

    clock.advance(2_000);
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    const [after, ...extra] = await replicas(revision);
    expect(extra).toEqual([]);
    expect(after.name).not.toBe(before.name);
    expect(after.createdTime!.getTime()).toBeGreaterThan(before.createdTime!.getTime());
    expect(azure.sandbox.apps.check(appId).replicas[0].secrets["gateway-token"].latest).toBe(true);
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-two")).toBe(true);
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-one")).toBe(false);
  });

  it("starts a replica only after replicaStartMs, not ready until then", async () => {
    const revision = await latestRevision();
    azure.sandbox.setFaults({ replicaStartMs: 10_000 });
    try {
      await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
      const [starting] = await replicas(revision);
      expect(starting.runningState).toBe("NotRunning");
      expect(starting.containers?.[0]).toMatchObject({ ready: false, runningState: "Waiting" });
      expect((await apps().containerAppsRevisions.getRevision(RG, "app-held", revision)).healthState).toBe("None");
      clock.advance(10_000);
      const [running] = await replicas(revision);
      expect(running.name).toBe(starting.name);
      expect(running.runningState).toBe("Running");
      expect(running.containers?.[0]).toMatchObject({ ready: true, runningState: "Running" });
    } finally {
      azure.sandbox.setFaults({ replicaStartMs: 0 });
    }
  });

  it("fails a replica whose storage key was regenerated, until the environment storage has a current key", async () => {
    const revision = await latestRevision();
    expect(azure.sandbox.apps.check(appId).replicas[0].mounts.state).toEqual({ account: ACCOUNT, ok: true });
    await azure.clients.storage.storageAccounts.regenerateKey(RG, ACCOUNT, { keyName: "key1" });
    // The mounted key is refused for data access from now on.
    expect(azure.sandbox.apps.check(appId).replicas[0].mounts.state).toMatchObject({ ok: false });
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    const [failed] = await replicas(revision);
    expect(failed.runningState).toBe("NotRunning");
    expect(failed.runningStateDetails).toMatch(/Permission denied/);
    expect(await apps().containerAppsRevisions.getRevision(RG, "app-held", revision)).toMatchObject({
      runningState: "Degraded",
      healthState: "Unhealthy",
    });
    await registerStorage("key2");
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    expect((await replicas(revision))[0].runningState).toBe("Running");
    expect(await apps().containerAppsRevisions.getRevision(RG, "app-held", revision)).toMatchObject({
      runningState: "Running",
      healthState: "Healthy",
    });
  });

  it("fails a replica whose Key Vault reference resolves to a disabled version", async () => {
    const revision = await latestRevision();
    const latest = await secrets().getSecret("gateway-token");
    await secrets().updateSecretProperties("gateway-token", latest.properties.version!, { enabled: false });
    try {
      await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
      const [failed] = await replicas(revision);
      expect(failed.runningState).toBe("NotRunning");
      expect(failed.runningStateDetails).toMatch(/disabled secret/);
    } finally {
      await secrets().updateSecretProperties("gateway-token", latest.properties.version!, { enabled: true });
    }
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    expect((await replicas(revision))[0].runningState).toBe("Running");
  });

  it("crashes the next N replicas to start (failReplicaStarts), then starts them again", async () => {
    const revision = await latestRevision();
    azure.sandbox.setFaults({ failReplicaStarts: 1 });
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    const [crashed] = await replicas(revision);
    expect(crashed).toMatchObject({
      runningState: "NotRunning",
      runningStateDetails: expect.stringMatching(/CrashLoopBackOff/),
    });
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-two")).toBe(false);
    await apps().containerAppsRevisions.restartRevision(RG, "app-held", revision);
    expect((await replicas(revision))[0].runningState).toBe("Running");
    expect(azure.sandbox.env.faults.failReplicaStarts).toBe(0);
  });

  it("has no replicas while the app is stopped, and a new one when it starts", async () => {
    const revision = await latestRevision();
    await apps().containerApps.beginStopAndWait(RG, "app-held");
    expect(await replicas(revision)).toEqual([]);
    expect(azure.sandbox.apps.accepts(appId, "gateway-token", "token-two")).toBe(false);
    await apps().containerApps.beginStartAndWait(RG, "app-held");
    expect((await replicas(revision)).map((replica) => replica.runningState)).toEqual(["Running"]);
  });

  it("answers the data-plane check over HTTPS too, with versions and verdicts, never values", async () => {
    const response = await raw(azure.sandbox, "management", "GET", `/_sandbox/apps?id=${encodeURIComponent(appId)}`);
    expect(response.status).toBe(200);
    expect(response.body).not.toContain("token-two");
    expect(JSON.parse(response.body)).toMatchObject({
      app: appId,
      replicas: [
        { runningState: "Running", secrets: { "gateway-token": { latest: true } }, mounts: { state: { ok: true } } },
      ],
    });
    expect((await raw(azure.sandbox, "management", "GET", "/_sandbox/apps")).status).toBe(400);
  });
});

describe("AI services keys", () => {
  it("refuses a regenerated key on the account's data plane", async () => {
    const account = await azure.clients.cognitiveServices.accounts.beginCreateAndWait(RG, "ai-replicas", {
      location: "westeurope",
      kind: "AIServices",
      sku: { name: "S0" },
      properties: { customSubDomainName: "ai-replicas-test" },
    });
    const before = await azure.clients.cognitiveServices.accounts.listKeys(RG, "ai-replicas");
    expect(azure.sandbox.apps.cognitiveKeyValid(account.id!, before.key1!)).toBe(true);
    await azure.clients.cognitiveServices.accounts.regenerateKey(RG, "ai-replicas", "Key1");
    expect(azure.sandbox.apps.cognitiveKeyValid(account.id!, before.key1!)).toBe(false);
    expect(azure.sandbox.apps.cognitiveKeyValid(account.id!, before.key2!)).toBe(true);
  });
});
