/**
 * Rotation, phase 2: the app restarted onto the staged versions and seen healthy. A versionless
 * Key Vault reference is re-read only when a replica starts (Container Apps refreshes them at most
 * every 30 minutes), and a share is mounted with the environment storage's key only then, so the
 * revision is restarted (`containerAppsRevisions.restartRevision`) once for every secret the
 * rotation staged. Done when every replica started after the newest staged version was written
 * and runs with its containers ready.
 *
 * Safe to run again: replicas that already started after the versions are not restarted again
 * (only waited for); a restart whose replicas never appeared, or whose replicas crashed, is asked
 * for again. A revision whose new replicas fail (a credential the app cannot use, a crash) fails
 * the phase: nothing is revoked, so every credential keeps working at its service, and the
 * rotation can be run again.
 */
import type { ActivityDeps } from "../deps";
import { permanent, transient } from "../errors";
import { allStartedAfter, appReplicas, holdsFrom, notRunning, revisionFailed, type AppReplicas } from "./app-state";
import { latestVersion, vaultClient } from "./vault";
import type { ActivityInput, ActivityResult } from "../../src/contract/activity";
import type { RestartDesired } from "../../src/contract/rotation";

export type RestartOutputs = "revision" | "restartedAt";

/** How long one delivery watches the restarted replicas before it leaves the rest to a retry. */
const WATCH_POLLS = 30;
const WATCH_INTERVAL_MS = 2_000;

export function createRestartActivity(deps: ActivityDeps) {
  return async ({ nodeId, desired }: ActivityInput<RestartDesired>): Promise<ActivityResult<RestartOutputs>> => {
    const client = vaultClient(deps, desired.vaultName);
    let newest = new Date(0);
    for (const name of desired.secretNames) {
      const latest = await latestVersion(client, name);
      if (!latest) throw permanent("SecretNotFound", `Secret '${name}' is not in vault ${desired.vaultName}.`);
      if (latest.createdOn > newest) newest = latest.createdOn;
    }
    const from = holdsFrom(newest);
    const read = () => appReplicas(deps, desired.resourceGroup, desired.containerAppName);
    const done = (state: AppReplicas, restarted: boolean): ActivityResult<RestartOutputs> => ({
      nodeId,
      action: restarted ? "updated" : "unchanged",
      resourceId: state.app.id,
      changed: restarted ? ["replicas"] : [],
      outputs: {
        revision: state.revision,
        restartedAt: state.replicas
          .map((replica) => replica.createdTime?.toISOString() ?? "")
          .sort()
          .at(-1)!,
      },
    });

    let state = await read();
    if (!notRunning(state, newest)) return done(state, false);
    // Replicas that started before the versions hold older ones; replicas that crashed (an earlier
    // restart that failed) are given another start: either way, restart.
    if (!allStartedAfter(state.replicas, from) || revisionFailed(state)) {
      // A replica created in the same second as the newest version may hold the older one.
      const early = from + 200 - Date.now();
      if (early > 0) await deps.sleep(early);
      deps.beforeWrite(["restart revision"], true);
      await deps.clients.containerApps.containerAppsRevisions.restartRevision(
        desired.resourceGroup,
        desired.containerAppName,
        state.revision,
      );
    }
    for (let poll = 0; ; poll++) {
      state = await read();
      const waiting = notRunning(state, newest);
      if (!waiting) return done(state, true);
      if (allStartedAfter(state.replicas, from) && revisionFailed(state))
        throw permanent(
          "RestartFailed",
          `Container app ${desired.containerAppName} did not come back after its restart onto ${desired.secretNames.join(", ")}: ${waiting}. Nothing was revoked: the previous credentials still work. Look at the revision's logs, then run the rotation again.`,
        );
      if (poll >= WATCH_POLLS)
        throw transient("ResourceNotReady", `Container app ${desired.containerAppName} restarted: ${waiting}.`);
      await deps.sleep(WATCH_INTERVAL_MS);
    }
  };
}
