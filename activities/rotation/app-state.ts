/**
 * Does the Container App run on a secret version yet? A replica reads its Key Vault references
 * (and mounts its storage) when it starts and keeps them until it is replaced, so the app runs a
 * version exactly when every replica of its active revision started after the version was written
 * and is running with its containers ready. Key Vault's `createdOn` has whole seconds, so a
 * replica counts only from the second after (a replica created earlier in that same second may
 * have read the older version): that is what makes "the app runs it" provable before anything is
 * revoked.
 */
import type { ContainerApp, Replica, Revision } from "@azure/arm-appcontainers";
import { getOrUndefined } from "../arm";
import { permanent } from "../errors";
import type { ActivityDeps } from "../deps";

/** A replica started at or after this (ms) holds every version written at or before `newest`. */
export function holdsFrom(newestCreatedOn: Date): number {
  return newestCreatedOn.getTime() + 1000;
}

export interface AppReplicas {
  app: ContainerApp;
  revision: string;
  /** The revision's own view: running state and health. */
  revisionState: Pick<Revision, "runningState" | "healthState">;
  replicas: Replica[];
}

export async function appReplicas(deps: ActivityDeps, resourceGroup: string, name: string): Promise<AppReplicas> {
  const apps = deps.clients.containerApps;
  const app = await getOrUndefined(() => apps.containerApps.get(resourceGroup, name));
  if (!app) throw permanent("ContainerAppNotFound", `Container app ${name} in ${resourceGroup} does not exist.`);
  if (app.runningStatus === "Stopped")
    throw permanent(
      "ContainerAppStopped",
      `Container app ${name} is stopped (a retired slug): nothing runs a secret, so nothing can be rotated onto.`,
    );
  const revision = app.latestReadyRevisionName ?? app.latestRevisionName;
  if (!revision) throw permanent("NoRevision", `Container app ${name} has no revision to restart.`);
  const { runningState, healthState } = await apps.containerAppsRevisions.getRevision(resourceGroup, name, revision);
  const replicas = (await apps.containerAppsRevisionReplicas.listReplicas(resourceGroup, name, revision)).value;
  return { app, revision, revisionState: { runningState, healthState }, replicas };
}

const isReady = (replica: Replica): boolean =>
  replica.runningState === "Running" && (replica.containers ?? []).every((container) => container.ready === true);

/** The revision gave up on its replicas (they crash or cannot start) rather than still starting them. */
export const revisionFailed = (state: AppReplicas): boolean =>
  state.revisionState.runningState === "Failed" || state.revisionState.runningState === "Degraded";

const startedAt = (replica: Replica): number => replica.createdTime?.getTime() ?? 0;

/** Every replica started after `fromMs` (and there is one). */
export function allStartedAfter(replicas: Replica[], fromMs: number): boolean {
  return replicas.length > 0 && replicas.every((replica) => startedAt(replica) >= fromMs);
}

/** Why the app does not provably run versions written up to `newest`, or undefined when it does. */
export function notRunning(state: AppReplicas, newest: Date): string | undefined {
  const from = holdsFrom(newest);
  const stale = state.replicas.filter((replica) => startedAt(replica) < from);
  if (state.replicas.length === 0) return `revision ${state.revision} has no replica`;
  if (stale.length > 0)
    return `${stale.length} replica(s) of revision ${state.revision} started before ${new Date(from).toISOString()}`;
  const unready = state.replicas.filter((replica) => !isReady(replica));
  if (unready.length > 0)
    return `replica ${unready[0].name} of revision ${state.revision} is ${unready[0].runningState ?? "not running"}${unready[0].runningStateDetails ? ` (${unready[0].runningStateDetails})` : ""}`;
  return undefined;
}
