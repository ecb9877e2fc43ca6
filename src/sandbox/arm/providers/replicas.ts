/**
 * Container Apps replicas (`Microsoft.App/containerApps/revisions/replicas`, read-only: listed per
 * revision, `ContainerAppsRevisionReplicas_ListReplicas` / `_GetReplica`), and what a replica holds
 * while it runs. Secrets and storage are read when a replica starts, as on Container Apps: a Key
 * Vault reference resolves to the version that is current then (the replica keeps it until it is
 * replaced: a restart, a new revision), and an Azure Files volume is mounted with the environment
 * storage's account key. A reference that resolves to nothing (secret missing, latest version
 * disabled) or a key the account no longer has makes the replica fail to start (`NotRunning`), its
 * revision `Degraded` and `Unhealthy`.
 *
 * Replicas start when a revision is made or activated, when the app is started, and when a
 * revision is restarted (every replica replaced: new name, new `createdTime`); they go when the
 * revision is deactivated or the app stopped. A new replica is `NotRunning` (containers `Waiting`,
 * not ready) for `replicaStartMs` on the sandbox clock, then `Running`. The fault
 * `failReplicaStarts` makes the next N replicas crash at start (CrashLoopBackOff), as a restart
 * onto a bad credential or image would.
 */
import { createHash, randomBytes } from "node:crypto";
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { asRecord } from "./rules";
import type { ArmStore, StoredResource } from "../store";

export const REPLICA_TYPE = "Microsoft.App/containerApps/revisions/replicas";

type Json = Record<string, unknown>;
const list = (value: unknown) => (Array.isArray(value) ? (value as Json[]) : []);

/** A Key Vault secret version as the data plane holds it (what a replica resolves a reference to). */
export interface VaultSecretVersion {
  version: string;
  value: string;
  enabled: boolean;
}

/** Reads Key Vault secrets for the replicas (the Key Vault service registers it; ARM is built first). */
export type VaultSecretReader = (
  vaultName: string,
  secretName: string,
  version?: string,
) => VaultSecretVersion | undefined;

const readers = new WeakMap<ArmEngine, VaultSecretReader>();

export function setVaultSecretReader(engine: ArmEngine, reader: VaultSecretReader): void {
  readers.set(engine, reader);
}

/** What a replica loaded when it started (kept hidden: ARM never shows it). */
export interface ReplicaLoad {
  /** App secret name -> the Key Vault version it resolved to. */
  secrets: Record<string, { vault: string; secret: string; version: string }>;
  /** Volume name -> the storage account and a hash of the key it mounted with. */
  mounts: Record<string, { account: string; keyHash: string }>;
  /** Why it could not start, if it could not. */
  failure?: string;
}

export function keyHash(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** `https://<vault>.vault.<suffix>[:port]/secrets/<name>[/<version>]` -> its parts. */
function parseKeyVaultUrl(url: string): { vault: string; secret: string; version?: string } | undefined {
  const match = /^https:\/\/([^.]+)\.vault\.[^/]+\/secrets\/([^/?]+)(?:\/([^/?]+))?\/?$/i.exec(url);
  return match ? { vault: match[1].toLowerCase(), secret: match[2], version: match[3] } : undefined;
}

const appIdOf = (revisionId: string) => revisionId.split(/\/revisions\//i)[0];

/** The revision's replicas (without handing out, and so re-persisting, every other app's). */
export function replicasOf(store: ArmStore, revision: StoredResource): StoredResource[] {
  return store
    .descendants(revision.resource.id)
    .filter((stored) => stored.resource.type.toLowerCase() === REPLICA_TYPE.toLowerCase());
}

/**
 * Replicas still starting, by id: the sweep looks only at these and their revisions (a fleet has
 * thousands of replicas, and whatever a sweep reads is persisted again).
 */
const startingByEngine = new WeakMap<ArmEngine, Set<string>>();

function startingOf(engine: ArmEngine): Set<string> {
  let starting = startingByEngine.get(engine);
  if (!starting) {
    // First use after a start: replicas kept in the state directory may still be starting.
    starting = new Set(
      engine.store
        .listByType(REPLICA_TYPE)
        .filter((replica) => asRecord(replica.resource.properties).runningStateDetails === "Starting")
        .map((replica) => replica.resource.id.toLowerCase()),
    );
    startingByEngine.set(engine, starting);
  }
  return starting;
}

/** Resolve what a replica of `app` loads at start: each Key Vault reference and each Azure Files mount. */
function load(engine: ArmEngine, app: StoredResource, template: Json): ReplicaLoad {
  const store = engine.store;
  const reader = readers.get(engine);
  const loaded: ReplicaLoad = { secrets: {}, mounts: {} };
  const configuration = asRecord(asRecord(app.resource.properties).configuration);
  for (const secret of list(configuration.secrets)) {
    if (typeof secret.keyVaultUrl !== "string") continue;
    const reference = parseKeyVaultUrl(secret.keyVaultUrl);
    const resolved = reference && reader?.(reference.vault, reference.secret, reference.version);
    if (!reference || !resolved) {
      loaded.failure ??= `unable to fetch secret '${String(secret.name)}' from Key Vault: ${secret.keyVaultUrl} was not found.`;
      continue;
    }
    if (!resolved.enabled) {
      loaded.failure ??= `unable to fetch secret '${String(secret.name)}' from Key Vault: Operation get is not allowed on a disabled secret (${reference.secret}/${resolved.version}).`;
      continue;
    }
    loaded.secrets[String(secret.name)] = {
      vault: reference.vault,
      secret: reference.secret,
      version: resolved.version,
    };
  }
  const environmentId = String(asRecord(app.resource.properties).environmentId ?? "");
  for (const volume of list(template.volumes)) {
    if (volume.storageType !== "AzureFile") continue;
    const storage = store.get(`${environmentId}/storages/${String(volume.storageName)}`);
    const azureFile = asRecord(asRecord(storage?.resource.properties).azureFile);
    const account = store.findStorageAccount(String(azureFile.accountName ?? ""));
    const key = String(storage?.hidden.accountKey ?? "");
    const keys = asRecord(account?.hidden.keys);
    if (!storage || !account) {
      loaded.failure ??= `volume '${String(volume.name)}': environment storage '${String(volume.storageName)}' or its account is gone.`;
      continue;
    }
    if (key !== keys.key1 && key !== keys.key2) {
      loaded.failure ??= `volume '${String(volume.name)}': mount error(13): Permission denied: the account key of environment storage '${String(volume.storageName)}' is not valid for storage account '${account.resource.name}'.`;
      continue;
    }
    loaded.mounts[String(volume.name)] = { account: account.resource.name, keyHash: keyHash(key) };
  }
  return loaded;
}

/** Start one replica of an active revision (replacing none: callers stop the old ones first). */
function startReplica(engine: ArmEngine, revision: StoredResource): void {
  const env = engine.env;
  const app = engine.store.get(appIdOf(revision.resource.id));
  if (!app) return;
  const template = asRecord(asRecord(revision.resource.properties).template);
  const loaded = load(engine, app, template);
  if (!loaded.failure && env.faults.failReplicaStarts > 0) {
    env.faults.failReplicaStarts -= 1;
    loaded.failure = "the container exited with code 1 (CrashLoopBackOff).";
  }
  const name = `${revision.resource.name}-${randomBytes(5).toString("hex")}-${randomBytes(3).toString("hex").slice(0, 5)}`;
  const now = env.clock.now();
  engine.store.put({
    resource: {
      id: `${revision.resource.id}/replicas/${name}`,
      name,
      type: REPLICA_TYPE,
      properties: {
        createdTime: new Date(now).toISOString(),
        runningState: "NotRunning",
        runningStateDetails: "Starting",
        containers: list(template.containers).map((container) => containerView(String(container.name), "starting")),
        initContainers: list(template.initContainers).map((container) =>
          containerView(String(container.name), "starting"),
        ),
      },
    },
    hidden: { loaded, startsAt: now + env.faults.replicaStartMs * env.faults.latencyScale },
    createdAt: now,
  });
  startingOf(engine).add(`${revision.resource.id}/replicas/${name}`.toLowerCase());
}

function containerView(name: string, state: "starting" | "running" | "failed", details?: string): Json {
  return {
    name,
    containerId: `containerd://${createHash("sha256").update(`${name}:${Math.random()}`).digest("hex").slice(0, 64)}`,
    ready: state === "running",
    started: state === "running",
    restartCount: state === "failed" ? 5 : 0,
    runningState: state === "running" ? "Running" : "Waiting",
    runningStateDetails: state === "running" ? "" : (details ?? "ContainerCreating"),
  };
}

/** Every replica of the revision gone (deactivated, app stopped, restart). */
export function stopReplicas(store: ArmStore, revision: StoredResource): void {
  for (const replica of replicasOf(store, revision)) store.delete(replica.resource.id);
}

/** Start the revision's replicas (one: Shire's apps run one replica) when it is active and its app runs. */
export function startReplicas(engine: ArmEngine, revision: StoredResource): void {
  const properties = asRecord(revision.resource.properties);
  const app = engine.store.get(appIdOf(revision.resource.id));
  if (properties.active !== true || asRecord(app?.resource.properties).runningStatus === "Stopped") return;
  if (replicasOf(engine.store, revision).length > 0) return;
  startReplica(engine, revision);
  settleReplicas(engine);
}

/** Restart: every replica replaced by a new one that loads secrets and mounts again. */
export function restartReplicas(engine: ArmEngine, revision: StoredResource): void {
  stopReplicas(engine.store, revision);
  startReplicas(engine, revision);
}

/** Replicas past their start-up time run (or fail); each revision's running and health state follows its replicas. */
function settleReplicas(engine: ArmEngine): void {
  const starting = startingOf(engine);
  if (starting.size === 0) return;
  const now = engine.env.clock.now();
  const store = engine.store;
  const revisions = new Set<string>();
  for (const id of [...starting]) {
    const replica = store.get(id);
    if (!replica) {
      starting.delete(id);
      continue;
    }
    revisions.add(id.split(/\/replicas\//i)[0]);
    if (now < Number(replica.hidden.startsAt ?? 0)) continue;
    starting.delete(id);
    const properties = asRecord(replica.resource.properties);
    const failure = (replica.hidden.loaded as ReplicaLoad | undefined)?.failure;
    const state = failure ? "failed" : "running";
    Object.assign(properties, {
      runningState: failure ? "NotRunning" : "Running",
      runningStateDetails: failure ?? "",
      containers: list(properties.containers).map((container) => containerView(String(container.name), state, failure)),
      initContainers: list(properties.initContainers).map((container) => ({
        ...containerView(String(container.name), state, failure),
        // Init containers have finished once the app's containers run.
        ...(failure ? {} : { ready: false, runningState: "Terminated", runningStateDetails: "Completed" }),
      })),
    });
  }
  for (const revisionId of revisions) {
    const revision = store.get(revisionId);
    if (revision) reflectReplicas(store, revision);
  }
}

/** The revision's running and health state as its replicas say (an active revision with replicas). */
export function reflectReplicas(store: ArmStore, revision: StoredResource): void {
  const properties = asRecord(revision.resource.properties);
  // A revision still starting, or one whose readiness never passes (revisions.ts), is the
  // revision model's: its replicas do not make it ready.
  if (properties.active !== true || typeof revision.hidden.readyAt === "number" || revision.hidden.unhealthy === true)
    return;
  const replicas = replicasOf(store, revision);
  if (replicas.length === 0) return;
  const states = replicas.map((replica) => asRecord(replica.resource.properties));
  const failed = states.some(
    (state) => state.runningState === "NotRunning" && state.runningStateDetails !== "Starting",
  );
  const starting = states.some((state) => state.runningStateDetails === "Starting");
  Object.assign(properties, {
    replicas: replicas.length,
    runningState: failed ? "Degraded" : starting ? "Activating" : "Running",
    healthState: failed ? "Unhealthy" : starting ? "None" : "Healthy",
  });
}

export function defineReplicas(engine: ArmEngine): void {
  engine.define({
    type: REPLICA_TYPE,
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", REPLICA_TYPE);
    },
  });
  engine.onSettle(() => settleReplicas(engine));
}

/** What each running replica of an app loaded (for the sandbox's data-plane checks). */
export function appReplicas(
  store: ArmStore,
  appId: string,
): { revision: string; replica: StoredResource; loaded: ReplicaLoad }[] {
  return store
    .descendants(appId)
    .filter((stored) => stored.resource.type.toLowerCase() === REPLICA_TYPE.toLowerCase())
    .map((replica) => ({
      revision: replica.resource.id.split(/\/revisions\//i)[1].split("/")[0],
      replica,
      loaded: (replica.hidden.loaded as ReplicaLoad | undefined) ?? { secrets: {}, mounts: {} },
    }));
}
