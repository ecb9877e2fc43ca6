/**
 * What an upgrade needs of the sandbox, through the SDK clients the app uses: share snapshots
 * through ARM (`$expand=snapshots`, `x-ms-snapshot`), revisions that take time to become ready
 * while the old one keeps the traffic, images that never become healthy (`unhealthyImages`, set
 * through `POST /_sandbox/faults`), and the seed's migration and restore on the share's content.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ContainerApp, Revision } from "@azure/arm-appcontainers";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { environment, failure, group, raw } from "./helpers";

const clock = new ManualClock();
const azure = useSandbox({ clock });
const RG = "rg-upgrades";
let environmentId: string;

beforeAll(async () => {
  await group(azure.clients, RG);
  environmentId = (await environment(azure.clients, RG, "cae-upgrades")).id!;
  await azure.clients.storage.storageAccounts.create(RG, "stupgrades1", {
    location: "westeurope",
    sku: { name: "Standard_LRS" },
    kind: "StorageV2",
  });
  await azure.clients.storage.fileShares.create(RG, "stupgrades1", "state", { shareQuota: 100 });
  const keys = await azure.clients.storage.storageAccounts.listKeys(RG, "stupgrades1");
  await azure.clients.containerApps.managedEnvironmentsStorages.createOrUpdate(RG, "cae-upgrades", "state", {
    properties: {
      azureFile: {
        accountName: "stupgrades1",
        accountKey: keys.keys![0].value,
        shareName: "state",
        accessMode: "ReadWrite",
      },
    },
  });
});

const shares = {
  get: (...args: Parameters<typeof azure.clients.storage.fileShares.get>) =>
    azure.clients.storage.fileShares.get(...args),
  create: (...args: Parameters<typeof azure.clients.storage.fileShares.create>) =>
    azure.clients.storage.fileShares.create(...args),
  list: (...args: Parameters<typeof azure.clients.storage.fileShares.list>) =>
    azure.clients.storage.fileShares.list(...args),
  delete: (...args: Parameters<typeof azure.clients.storage.fileShares.delete>) =>
    azure.clients.storage.fileShares.delete(...args),
};

/** An app whose seed init container and gateway run `image` on the state share. */
const app = (image: string, seedEnv: { name: string; value: string }[] = []): ContainerApp => ({
  location: "westeurope",
  environmentId,
  template: {
    initContainers: [
      {
        name: "seed-config",
        image,
        env: seedEnv,
        resources: { cpu: 0.5, memory: "1Gi" },
        volumeMounts: [{ volumeName: "state", mountPath: "/state" }],
      },
    ],
    containers: [
      {
        name: "openclaw",
        image,
        resources: { cpu: 0.5, memory: "1Gi" },
        volumeMounts: [{ volumeName: "state", mountPath: "/state" }],
      },
    ],
    scale: { minReplicas: 1, maxReplicas: 1 },
    volumes: [{ name: "state", storageType: "AzureFile", storageName: "state" }],
  },
});
const put = (name: string, body: ContainerApp) =>
  azure.clients.containerApps.containerApps.beginCreateOrUpdateAndWait(RG, name, body);
const revision = (appName: string, name: string): Promise<Revision> =>
  azure.clients.containerApps.containerAppsRevisions.getRevision(RG, appName, name);
const view = (revision: Revision) => ({
  active: revision.active,
  provisioningState: revision.provisioningState,
  runningState: revision.runningState,
  healthState: revision.healthState,
  trafficWeight: revision.trafficWeight,
});
/** Take a snapshot; its id as the service sent it (the SDK's `Date` drops the digits below the millisecond). */
async function takeSnapshot(metadata?: Record<string, string>, share = "state"): Promise<{ time: string; sdk: Date }> {
  let time: string | undefined;
  const created = await shares.create(RG, "stupgrades1", share, metadata ? { metadata } : {}, {
    expand: "snapshots",
    onResponse: (response) => {
      time = (response.parsedBody as { properties?: { snapshotTime?: string } }).properties?.snapshotTime;
    },
  });
  return { time: time!, sdk: created.snapshotTime! };
}
const content = () => azure.sandbox.shareContent(RG, "stupgrades1", "state");

describe("share snapshots through ARM", () => {
  it("takes a snapshot with its own metadata, reads, lists and deletes it, and leaves the share alone", async () => {
    const before = await shares.get(RG, "stupgrades1", "state");
    const snapshot = await takeSnapshot({ "shire-operation": "op-1" });
    expect(snapshot.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    expect(snapshot.sdk.toISOString()).not.toBe(snapshot.time);
    const second = await takeSnapshot();
    // Taken in the same instant of the manual clock: still two snapshots.
    expect(second.time).not.toBe(snapshot.time);
    expect(await shares.get(RG, "stupgrades1", "state")).toMatchObject({
      shareQuota: before.shareQuota,
      metadata: before.metadata,
    });
    expect((await shares.get(RG, "stupgrades1", "state", { xMsSnapshot: snapshot.time })).metadata).toEqual({
      "shire-operation": "op-1",
    });
    const listed: string[] = [];
    for await (const share of shares.list(RG, "stupgrades1", { expand: "snapshots" }))
      listed.push(share.snapshotTime ? "snapshot" : share.name!);
    expect(listed).toEqual(["state", "snapshot", "snapshot"]);
    const plain = [];
    for await (const share of shares.list(RG, "stupgrades1")) plain.push(share.name);
    expect(plain).toEqual(["state"]);

    await shares.delete(RG, "stupgrades1", "state", { xMsSnapshot: second.time });
    await shares.delete(RG, "stupgrades1", "state", { xMsSnapshot: second.time }); // gone already: fine
    expect(await failure(shares.get(RG, "stupgrades1", "state", { xMsSnapshot: second.time }))).toMatchObject({
      statusCode: 404,
      code: "ShareSnapshotNotFound",
    });
    expect(await shares.get(RG, "stupgrades1", "state")).toMatchObject({ name: "state" });
    expect(await failure(takeSnapshot(undefined, "missing"))).toMatchObject({ statusCode: 404, code: "ShareNotFound" });
  });
});

describe("revisions during an upgrade", () => {
  it("keeps the old revision serving until the new one is ready, then moves the traffic", async () => {
    azure.sandbox.setFaults({ revisionStartMs: 10_000 });
    try {
      const first = await put("app-rolling", app("ghcr.io/openclaw/openclaw:2026.9.5"));
      expect(first.latestReadyRevisionName).toBeUndefined();
      expect(view(await revision("app-rolling", first.latestRevisionName!))).toMatchObject({
        provisioningState: "Provisioning",
        runningState: "Activating",
      });
      clock.advance(10_000);
      expect(view(await revision("app-rolling", first.latestRevisionName!))).toEqual({
        active: true,
        provisioningState: "Provisioned",
        runningState: "Running",
        healthState: "Healthy",
        trafficWeight: 100,
      });

      const second = await put("app-rolling", app("ghcr.io/openclaw/openclaw:2026.9.6"));
      expect(second.latestRevisionName).not.toBe(first.latestRevisionName);
      expect(second.latestReadyRevisionName).toBe(first.latestRevisionName);
      expect(view(await revision("app-rolling", second.latestRevisionName!))).toMatchObject({
        active: true,
        runningState: "Activating",
        trafficWeight: 0,
      });
      expect(view(await revision("app-rolling", first.latestRevisionName!))).toMatchObject({
        active: true,
        runningState: "Running",
        trafficWeight: 100,
      });
      clock.advance(10_000);
      expect(view(await revision("app-rolling", second.latestRevisionName!))).toMatchObject({
        active: true,
        runningState: "Running",
        healthState: "Healthy",
        trafficWeight: 100,
      });
      expect(view(await revision("app-rolling", first.latestRevisionName!))).toMatchObject({
        active: false,
        trafficWeight: 0,
      });
      expect((await azure.clients.containerApps.containerApps.get(RG, "app-rolling")).latestReadyRevisionName).toBe(
        second.latestRevisionName,
      );
    } finally {
      azure.sandbox.setFaults({ revisionStartMs: 0 });
    }
  });

  it("never makes an image listed in unhealthyImages (set through POST /_sandbox/faults) healthy: the old revision keeps the traffic", async () => {
    const good = await put("app-canary", app("ghcr.io/openclaw/openclaw:2026.9.6"));
    const set = await raw(azure.sandbox, "management", "POST", "/_sandbox/faults", {
      body: { unhealthyImages: ["ghcr.io/openclaw/openclaw:2026.9.99"] },
    });
    expect(set.status).toBe(200);
    expect(JSON.parse(set.body).unhealthyImages).toEqual(["ghcr.io/openclaw/openclaw:2026.9.99"]);
    try {
      const bad = await put("app-canary", app("ghcr.io/openclaw/openclaw:2026.9.99"));
      clock.advance(3_600_000);
      expect(view(await revision("app-canary", bad.latestRevisionName!))).toMatchObject({
        active: true,
        provisioningState: "Provisioned",
        runningState: "Activating",
        healthState: "Unhealthy",
        trafficWeight: 0,
      });
      expect(view(await revision("app-canary", good.latestRevisionName!))).toMatchObject({
        active: true,
        runningState: "Running",
        trafficWeight: 100,
      });
      const current = await azure.clients.containerApps.containerApps.get(RG, "app-canary");
      expect(current.latestRevisionName).toBe(bad.latestRevisionName);
      expect(current.latestReadyRevisionName).toBe(good.latestRevisionName);
      // Rolling back to the good image makes a healthy revision again.
      const back = await put("app-canary", app("ghcr.io/openclaw/openclaw:2026.9.6"));
      expect(view(await revision("app-canary", back.latestRevisionName!))).toMatchObject({ runningState: "Running" });
      expect(view(await revision("app-canary", bad.latestRevisionName!))).toMatchObject({ active: false });
    } finally {
      azure.sandbox.setFaults({ unhealthyImages: [] });
    }
  });
});

describe("the seed on the share", () => {
  it("migrates the state when the OpenClaw version changes, and restores a snapshot once when a revision names it", async () => {
    // The other apps here share this share: count from where they left it.
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.4"));
    const base = content()!.migrations;
    expect(content()).toEqual({ openclawVersion: "2026.9.4", migrations: base });
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.5"));
    expect(content()).toEqual({ openclawVersion: "2026.9.5", migrations: base + 1 });
    const snapshot = await takeSnapshot();
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.6"));
    expect(content()).toEqual({ openclawVersion: "2026.9.6", migrations: base + 2 });
    // Same version in another tag: no migration.
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.6-1"));
    expect(content()).toEqual({ openclawVersion: "2026.9.6", migrations: base + 2 });
    const restore = [{ name: "OPENCLAW_RESTORE_SNAPSHOT", value: snapshot.time }];
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.5", restore));
    expect(content()).toEqual({ openclawVersion: "2026.9.5", migrations: base + 1 });
    // A later revision naming the same snapshot does not restore it again.
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.6", restore));
    await put("app-seed", app("ghcr.io/openclaw/openclaw:2026.9.5", restore));
    expect(content()).toEqual({ openclawVersion: "2026.9.5", migrations: base + 3 });
  });
});
