/**
 * An upgrade's own activities (the Container App itself is converged by its plan kind,
 * activities/kinds/container-app.ts): what the app runs now, a snapshot of the state share before
 * anything changes, and the health gate's look at the new revision. Each is safe to run twice and
 * to run again after its answer was lost: reads change nothing, and the snapshot is found by the
 * operation id it carries in its metadata before another is taken.
 */
import * as df from "durable-functions";
import type { Revision } from "@azure/arm-appcontainers";
import { getOrUndefined, isNotFound } from "./arm";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import {
  CHECK_REVISION_HEALTH,
  GET_APP_REVISION,
  SNAPSHOT_OPERATION_KEY,
  SNAPSHOT_STATE_SHARE,
  type AppRef,
  type AppRevision,
  type RevisionHealth,
  type ShareRef,
  type SnapshotResult,
} from "../src/contract/upgrade";

function gatewayImage(template: { containers?: { name?: string; image?: string }[] } | undefined): string | undefined {
  return template?.containers?.find((container) => container.name === "openclaw")?.image;
}

export function createUpgradeActivities(deps: ActivityDeps) {
  const apps = () => deps.clients.containerApps.containerApps;
  const revisions = () => deps.clients.containerApps.containerAppsRevisions;
  const shares = () => deps.clients.storage.fileShares;

  const revisionOf = (app: AppRef, name: string | undefined): Promise<Revision | undefined> =>
    name
      ? getOrUndefined(() => revisions().getRevision(app.resourceGroup, app.name, name))
      : Promise.resolve(undefined);

  return {
    /**
     * What the app runs now: its image, its latest and latest ready revisions. One read (a wave
     * runs this for every slug against a subscription-wide read budget): the latest revision is
     * healthy when it is the latest ready one of a provisioned app.
     */
    async getAppRevision(app: AppRef): Promise<AppRevision> {
      const current = await getOrUndefined(() => apps().get(app.resourceGroup, app.name));
      if (!current) return { exists: false, healthy: false };
      return {
        exists: true,
        image: gatewayImage(current.template),
        latestRevisionName: current.latestRevisionName,
        latestReadyRevisionName: current.latestReadyRevisionName,
        healthy:
          current.provisioningState === "Succeeded" &&
          current.runningStatus !== "Stopped" &&
          Boolean(current.latestRevisionName) &&
          current.latestReadyRevisionName === current.latestRevisionName,
      };
    },

    /**
     * A snapshot of the state share taken for `operationId` (FileShares_Create with
     * `$expand=snapshots`), or the one it took already: listed with `$expand=snapshots` and
     * found by its metadata, so a lost answer never leaves two. Before taking one, Shire's older
     * snapshots beyond the newest STATE_SNAPSHOTS_KEPT - 1 are deleted (FileShares_Delete with
     * `x-ms-snapshot`): Azure Files allows 200 a share, and an upgrade past them would fail.
     * Snapshots Shire did not take (no operation in their metadata) are never touched.
     */
    async snapshotStateShare(input: ShareRef & { operationId: string }): Promise<SnapshotResult> {
      const snapshots = await shireSnapshots(deps, input);
      // The newest of this operation's: a PUT the SDK sent again after a dropped connection took two.
      const existing = snapshots
        .filter((snapshot) => snapshot.operationId === input.operationId)
        .sort((a, b) => b.snapshotTime.localeCompare(a.snapshotTime))[0];
      if (existing) return { snapshotTime: existing.snapshotTime, created: false };
      for (const old of snapshotsToPrune(snapshots)) {
        try {
          await shares().delete(input.resourceGroup, input.accountName, input.shareName, {
            xMsSnapshot: old.snapshotTime,
          });
        } catch (error) {
          // Gone already (a repeated delivery deleted it before its answer was lost).
          if (!isNotFound(error)) throw error;
        }
      }
      let snapshotTime: string | undefined;
      await shares().create(
        input.resourceGroup,
        input.accountName,
        input.shareName,
        { metadata: { [SNAPSHOT_OPERATION_KEY]: input.operationId } },
        {
          expand: "snapshots",
          // The SDK parses snapshotTime into a Date, which drops the digits below the millisecond
          // that make the snapshot's id: take it from the body as sent.
          onResponse: (response) => {
            snapshotTime = (response.parsedBody as { properties?: { snapshotTime?: string } } | undefined)?.properties
              ?.snapshotTime;
          },
        },
      );
      if (!snapshotTime) throw new Error("The share snapshot's answer had no snapshotTime.");
      return { snapshotTime, created: true };
    },

    /**
     * The health gate's look at the new revision (`revisionName`, or the app's latest): ready when
     * it runs `image`, is provisioned, running and healthy (its readiness probe passes) and has
     * the traffic; failed when Azure says it failed; otherwise waiting. One read when the
     * revision's name is known.
     */
    async checkRevisionHealth(input: AppRef & { image: string; revisionName?: string }): Promise<RevisionHealth> {
      let name = input.revisionName;
      if (!name) {
        const app = await getOrUndefined(() => apps().get(input.resourceGroup, input.name));
        if (!app) return { phase: "failed", state: "missing", detail: `container app ${input.name} does not exist` };
        name = app.latestRevisionName;
      }
      const latest = await revisionOf(input, name);
      if (!latest) return { phase: "waiting", state: "none", detail: `revision ${name ?? "(none yet)"} not found yet` };
      const image = gatewayImage(latest.template);
      if (image !== input.image)
        return {
          phase: "failed",
          revisionName: latest.name,
          state: "other image",
          detail: `revision ${latest.name} runs ${image ?? "no gateway"}, not ${input.image}`,
        };
      return judge(latest);
    },
  };
}

function judge(revision: Revision): RevisionHealth {
  const name = revision.name ?? "latest revision";
  const state = [revision.provisioningState, revision.runningState, revision.healthState].filter(Boolean).join(", ");
  const provisioning = revision.provisioningState ?? "";
  const running = revision.runningState ?? "";
  if (provisioning === "Failed" || running === "Failed" || running === "Degraded")
    return {
      phase: "failed",
      revisionName: name,
      state,
      detail: `revision ${name} is ${state}${revision.provisioningError ? `: ${revision.provisioningError}` : ""}`,
    };
  const ready =
    provisioning === "Provisioned" &&
    (running === "Running" || running === "RunningAtMaxScale") &&
    revision.healthState === "Healthy" &&
    // Single revision mode: the ready revision is active and has all the traffic.
    revision.active === true &&
    (revision.trafficWeight ?? 0) === 100;
  return {
    phase: ready ? "ready" : "waiting",
    revisionName: name,
    state,
    detail: ready ? `revision ${name} is ready` : `revision ${name} is ${state || "starting"}`,
  };
}

/**
 * How many of its snapshots Shire keeps per state share, the one an upgrade takes included. A
 * rollback mounts the snapshot of the upgrade that failed, which is the newest: a few more are
 * there for an operator's restore by hand.
 */
export const STATE_SNAPSHOTS_KEPT = 10;

interface ShireSnapshot {
  snapshotTime: string;
  operationId: string;
}

/** The share's snapshots Shire took (its operation id in their metadata). */
async function shireSnapshots(deps: ActivityDeps, input: ShareRef): Promise<ShireSnapshot[]> {
  const found: ShireSnapshot[] = [];
  const pages = deps.clients.storage.fileShares.list(input.resourceGroup, input.accountName, {
    expand: "snapshots",
    // The SDK parses snapshotTime into a Date (see snapshotStateShare): read the body as sent.
    onResponse: (response) => {
      const body = response.parsedBody as
        | { value?: { name?: string; properties?: { snapshotTime?: string; metadata?: Record<string, string> } }[] }
        | undefined;
      for (const share of body?.value ?? []) {
        const operationId = share.properties?.metadata?.[SNAPSHOT_OPERATION_KEY];
        if (share.name === input.shareName && share.properties?.snapshotTime && operationId)
          found.push({ snapshotTime: share.properties.snapshotTime, operationId });
      }
    },
  });
  for await (const _ of pages) void _;
  return found;
}

/** The snapshots to delete before taking one more: all but the newest STATE_SNAPSHOTS_KEPT - 1. */
export function snapshotsToPrune<T extends { snapshotTime: string }>(snapshots: T[]): T[] {
  // Snapshot times are ISO 8601 in UTC with the same digits: they sort as strings.
  const newestFirst = [...snapshots].sort((a, b) => b.snapshotTime.localeCompare(a.snapshotTime));
  return newestFirst.slice(STATE_SNAPSHOTS_KEPT - 1);
}

// Built on first use: the deps read app settings the host sets before invoking.
const handlers = (target: { subscriptionId?: string }) =>
  createUpgradeActivities(activityDepsFromEnv(target.subscriptionId));
df.app.activity(GET_APP_REVISION, { handler: (input: AppRef) => handlers(input).getAppRevision(input) });
df.app.activity(SNAPSHOT_STATE_SHARE, {
  handler: (input: ShareRef & { operationId: string }) => handlers(input).snapshotStateShare(input),
});
df.app.activity(CHECK_REVISION_HEALTH, {
  handler: (input: AppRef & { image: string }) => handlers(input).checkRevisionHealth(input),
});
