/**
 * The upgrade's own activities as orchestrations call them (names, inputs, answers), apart from
 * their implementation (activities/upgrade.ts), so orchestrations import no SDK client.
 */
export const GET_APP_REVISION = "getAppRevision";
export const SNAPSHOT_STATE_SHARE = "snapshotStateShare";
export const CHECK_REVISION_HEALTH = "checkRevisionHealth";

/** Metadata key a snapshot carries: the operation that took it. */
export const SNAPSHOT_OPERATION_KEY = "shireoperation";

export interface AppRef {
  /** The subscription the slug is placed in (absent: the broker's own). */
  subscriptionId?: string;
  resourceGroup: string;
  name: string;
}

export interface AppRevision {
  exists: boolean;
  /** The OpenClaw container's image in the app's template. */
  image?: string;
  latestRevisionName?: string;
  latestReadyRevisionName?: string;
  /** The latest revision is the ready one and healthy. */
  healthy: boolean;
}

export interface ShareRef {
  subscriptionId?: string;
  resourceGroup: string;
  accountName: string;
  shareName: string;
}

export interface SnapshotResult {
  /** The snapshot's id as Storage sent it (seven fraction digits; not through `Date`). */
  snapshotTime: string;
  /** False when this operation's snapshot was there already (a repeated delivery). */
  created: boolean;
}

export type GatePhase = "ready" | "waiting" | "failed";

export interface RevisionHealth {
  phase: GatePhase;
  revisionName?: string;
  /** provisioning / running / health states, e.g. "Provisioned, Activating, Unhealthy". */
  state: string;
  detail: string;
}
