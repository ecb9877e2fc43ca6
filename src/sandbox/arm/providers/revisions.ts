/**
 * Container Apps revisions as an upgrade sees them, and what a revision's seed init container does
 * to the state share.
 *
 * A template change makes a revision named `<app>--<suffix>`. It starts `Provisioning` /
 * `Activating` without traffic while the previous revision keeps serving (Single revision mode
 * moves traffic only once a new replica passes its startup and readiness probes: azure-facts §A,
 * Revisions), and becomes `Provisioned` / `Running` / `Healthy` after `revisionStartMs`; then it
 * takes the traffic, the others are deactivated and the app's `latestReadyRevisionName` names it.
 * An image listed in the `unhealthyImages` fault never gets there: its readiness probe keeps
 * failing, so the revision stays `Activating` with health `Unhealthy` and the old one keeps the
 * traffic.
 *
 * The share's content is modelled by what an upgrade changes: the OpenClaw version whose
 * `doctor --fix` last migrated it, and how often that happened. When a revision's replica starts,
 * its seed init container first restores the share from the snapshot it names
 * (`OPENCLAW_RESTORE_SNAPSHOT`, once per snapshot), then migrates the state when the image's
 * OpenClaw version differs from the one the state was last migrated by. A stopped app runs no
 * replica, so its init container does not run either.
 */
import { randomBytes } from "node:crypto";
import type { ArmEngine } from "../engine";
import type { ArmStore, StoredResource } from "../store";
import { asRecord } from "./rules";
import { reflectReplicas, stopReplicas } from "./replicas";

type Json = Record<string, unknown>;

export const REVISION_TYPE = "Microsoft.App/containerApps/revisions";
const SHARE_TYPE = "Microsoft.Storage/storageAccounts/fileServices/shares";

/** What the sandbox keeps of a share's content: enough to see a migration and a restore. */
export interface ShareContent {
  /** The OpenClaw version whose seed last migrated the state (`doctor --fix`). */
  openclawVersion?: string;
  /** How many migrations ran on it. */
  migrations: number;
}

const list = (value: unknown) => (Array.isArray(value) ? (value as Json[]) : []);

function versionOf(image: string): string | undefined {
  return /:(\d{4}\.\d{1,2}\.\d+)(?:[-@][^/]*)?$/.exec(image)?.[1];
}

/** Revisions not yet ready, by id: the sweep looks only at these (a fleet has thousands of revisions). */
const pendingByEngine = new WeakMap<ArmEngine, Set<string>>();

function pendingOf(engine: ArmEngine): Set<string> {
  let pending = pendingByEngine.get(engine);
  if (!pending) {
    // First use after a start: revisions kept in the state directory may still be on their way.
    pending = new Set(
      engine.store
        .listByType(REVISION_TYPE)
        .filter((revision) => typeof revision.hidden.readyAt === "number")
        .map((revision) => revision.resource.id.toLowerCase()),
    );
    pendingByEngine.set(engine, pending);
  }
  return pending;
}

/** The app's revisions (without handing out every other app's). */
export function revisionsOfApp(store: ArmStore, app: StoredResource): StoredResource[] {
  return store
    .descendants(app.resource.id)
    .filter((stored) => stored.resource.type.toLowerCase() === REVISION_TYPE.toLowerCase());
}

/** A new revision for the app's current template, as Container Apps makes one after a template change. */
export function createRevision(engine: ArmEngine, app: StoredResource): string {
  const { env, store } = engine;
  const properties = asRecord(app.resource.properties);
  const template = asRecord(properties.template);
  const suffix = String(template.revisionSuffix ?? "") || randomBytes(4).toString("hex").slice(0, 7);
  const revisionName = `${app.resource.name}--${suffix}`;
  const stopped = properties.runningStatus === "Stopped";
  const images = list(template.containers).map((container) => String(container.image));
  const group = (app.resource.id.split("/")[4] ?? "").toLowerCase();
  const unhealthy = images.some((image) =>
    env.faults.unhealthyImages.some((entry) =>
      typeof entry === "string"
        ? entry === image
        : entry.image === image && entry.resourceGroups.some((name) => name.toLowerCase() === group),
    ),
  );
  const startMs = env.faults.revisionStartMs * env.faults.latencyScale;
  const now = env.clock.now();
  const revision: StoredResource = {
    resource: {
      id: `${app.resource.id}/revisions/${revisionName}`,
      name: revisionName,
      type: REVISION_TYPE,
      properties: {
        createdTime: new Date(now).toISOString(),
        active: true,
        // A stopped app stays stopped when its template changes: the new revision runs no replicas.
        replicas: stopped ? 0 : 1,
        trafficWeight: 0,
        healthState: "None",
        provisioningState: "Provisioning",
        runningState: stopped ? "Stopped" : "Activating",
        template: properties.template,
      },
    },
    hidden: {},
    createdAt: now,
  };
  store.put(revision);
  properties.latestRevisionName = revisionName;
  const ingress = asRecord(asRecord(properties.configuration).ingress);
  properties.latestRevisionFqdn = ingress.fqdn
    ? `${revisionName}.${String(ingress.fqdn).split(".").slice(1).join(".")}`
    : undefined;
  if (!stopped) runSeed(store, app, template);
  if (stopped || (startMs <= 0 && !unhealthy)) {
    becomeReady(store, app, revision, stopped);
  } else {
    revision.hidden.readyAt = now + Math.max(0, startMs);
    revision.hidden.unhealthy = unhealthy;
    // Who reads the revision waits for this (the bench's bound, timings.ts).
    if (!unhealthy) revision.hidden.startGate = { originAt: now, delayMs: Math.max(0, startMs) };
    pendingOf(engine).add(revision.resource.id.toLowerCase());
  }
  return revisionName;
}

/** Move revisions whose start-up time has passed (a settle hook: runs before anything reads). */
export function advanceRevisions(engine: ArmEngine): void {
  const pending = pendingOf(engine);
  if (pending.size === 0) return;
  const now = engine.env.clock.now();
  for (const id of [...pending]) {
    const revision = engine.store.get(id);
    if (!revision || typeof revision.hidden.readyAt !== "number") {
      pending.delete(id);
      continue;
    }
    if (now < revision.hidden.readyAt) continue;
    pending.delete(id);
    delete revision.hidden.readyAt;
    const app = engine.store.get(id.split("/revisions/")[0]);
    if (!app) continue;
    const properties = asRecord(revision.resource.properties);
    if (revision.hidden.unhealthy === true) {
      // Provisioned, but the readiness probe never passes: no traffic, the old revision stays.
      Object.assign(properties, {
        provisioningState: "Provisioned",
        healthState: "Unhealthy",
        runningState: "Activating",
      });
      continue;
    }
    // An app stopped meanwhile keeps the revision without replicas.
    becomeReady(engine.store, app, revision, asRecord(app.resource.properties).runningStatus === "Stopped");
  }
}

function becomeReady(store: ArmStore, app: StoredResource, revision: StoredResource, stopped: boolean): void {
  const properties = asRecord(revision.resource.properties);
  Object.assign(properties, {
    provisioningState: "Provisioned",
    healthState: stopped ? "None" : "Healthy",
    runningState: stopped ? "Stopped" : "Running",
    trafficWeight: 100,
    replicas: stopped ? 0 : 1,
  });
  const appProperties = asRecord(app.resource.properties);
  if (asRecord(appProperties.configuration).activeRevisionsMode !== "Multiple") {
    for (const other of revisionsOfApp(store, app)) {
      if (other.resource.name === revision.resource.name) continue;
      Object.assign(asRecord(other.resource.properties), {
        active: false,
        trafficWeight: 0,
        replicas: 0,
        ...(asRecord(other.resource.properties).runningState === "Stopped" ? {} : { runningState: "Stopped" }),
      });
      delete other.hidden.readyAt;
      stopReplicas(store, other);
    }
  }
  appProperties.latestReadyRevisionName = revision.resource.name;
  // Replicas that already ran (or crashed) while the revision started say how it runs now.
  if (!stopped) reflectReplicas(store, revision);
}

/** The share an app's AzureFile volume mounts (through its environment storage), if the sandbox has it. */
function stateShareOf(store: ArmStore, app: StoredResource, template: Json): StoredResource | undefined {
  const environmentId = String(asRecord(app.resource.properties).environmentId ?? "");
  for (const volume of list(template.volumes)) {
    if (volume.storageType !== "AzureFile" || String(volume.mountOptions ?? "").includes("snapshot=")) continue;
    const storage = store.get(`${environmentId}/storages/${String(volume.storageName)}`);
    const azureFile = asRecord(asRecord(storage?.resource.properties).azureFile);
    if (!azureFile.accountName || !azureFile.shareName) continue;
    // The account is usually in the app's group: look there before scanning every account.
    const group = app.resource.id.split("/providers/")[0];
    const account =
      store.get(`${group}/providers/Microsoft.Storage/storageAccounts/${String(azureFile.accountName)}`) ??
      store
        .listByType("Microsoft.Storage/storageAccounts")
        .find((stored) => stored.resource.name === azureFile.accountName);
    if (!account) continue;
    const share = store.get(`${account.resource.id}/fileServices/default/shares/${String(azureFile.shareName)}`);
    if (share?.resource.type === SHARE_TYPE) return share;
  }
  return undefined;
}

export function shareContent(share: StoredResource): ShareContent {
  return (share.hidden.content as ShareContent | undefined) ?? { migrations: 0 };
}

/** The seed init container on the state share: restore from a named snapshot (once), then migrate on a version change. */
function runSeed(store: ArmStore, app: StoredResource, template: Json): void {
  const seed = list(template.initContainers).find((container) => container.name === "seed-config");
  if (!seed) return;
  const share = stateShareOf(store, app, template);
  if (!share) return;
  const envOf = (name: string) =>
    list(seed.env).find((variable) => variable.name === name)?.value as string | undefined;
  const restoreFrom = envOf("OPENCLAW_RESTORE_SNAPSHOT");
  const restored = (share.hidden.restoredSnapshots as string[] | undefined) ?? [];
  if (restoreFrom && !restored.includes(restoreFrom)) {
    const snapshot = list(share.hidden.snapshots).find((candidate) => candidate.snapshotTime === restoreFrom);
    if (snapshot) {
      share.hidden.content = structuredClone(snapshot.content ?? { migrations: 0 });
      share.hidden.restoredSnapshots = [...restored, restoreFrom];
    }
  }
  const version = versionOf(String(seed.image));
  const content = shareContent(share);
  if (version && content.openclawVersion !== version) {
    share.hidden.content = { ...content, openclawVersion: version, migrations: content.migrations + 1 };
  }
}
