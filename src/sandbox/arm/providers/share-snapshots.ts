/**
 * Azure Files share snapshots through ARM, as Microsoft.Storage 2025-08-01 has them
 * (FileShares_Create with `$expand=snapshots`, and `x-ms-snapshot` on FileShares_Get and
 * FileShares_Delete; `@azure/arm-storage` 20.0.0 `fileShares.create(..., { expand: "snapshots" })`,
 * `get`/`delete(..., { xMsSnapshot })`, `list(..., { expand: "snapshots" })`):
 *
 * - a PUT with `$expand=snapshots` on an existing share takes a read-only snapshot of it and
 *   answers the share with the snapshot's `snapshotTime` (the snapshot's id); the body's
 *   `metadata` is the snapshot's own, the share itself is not changed;
 * - `x-ms-snapshot: <snapshotTime>` on GET reads that snapshot, on DELETE deletes only it;
 * - listing with `$expand=snapshots` lists the snapshots beside the shares;
 * - a share keeps at most 200 snapshots (Azure Files' limit).
 *
 * The snapshot keeps a copy of the share's content as the sandbox models it (revisions.ts), so a
 * revision that restores from it brings that content back.
 */
import { randomInt } from "node:crypto";
import type { ArmEngine, ListContext } from "../engine";
import type { ArmResource, ArmStore, StoredResource } from "../store";
import type { SandboxEnvironment } from "../../service";
import type { SandboxRequest, SandboxResponse } from "../../types";
import { SandboxHttpError } from "../../types";
import { ArmErrors } from "../errors";
import { asRecord } from "./rules";

export const MAX_SHARE_SNAPSHOTS = 200;

export interface StoredSnapshot {
  snapshotTime: string;
  metadata: Record<string, string>;
  createdAt: number;
  /** The share's content when the snapshot was taken (revisions.ts `ShareContent`). */
  content?: unknown;
}

export function snapshotsOf(share: StoredResource): StoredSnapshot[] {
  return (share.hidden.snapshots as StoredSnapshot[] | undefined) ?? [];
}

/**
 * Storage's snapshot time format: ISO 8601 with seven fraction digits, the last four below the
 * millisecond (`2026-12-04T20:10:17.1234567Z`). The SDK turns `snapshotTime` into a `Date`, which
 * drops those digits: a client must take the snapshot's id from the response body as sent.
 */
function snapshotTimeAt(ms: number, ticks: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, `.$1${String(ticks).padStart(4, "0")}Z`);
}

function snapshotView(share: StoredResource, snapshot: StoredSnapshot): ArmResource {
  const properties = asRecord(share.resource.properties);
  return {
    ...share.resource,
    properties: {
      ...properties,
      metadata: snapshot.metadata,
      snapshotTime: snapshot.snapshotTime,
      lastModifiedTime: new Date(snapshot.createdAt).toISOString(),
    },
  };
}

const snapshotNotFound = (time: string) =>
  new SandboxHttpError(404, "ShareSnapshotNotFound", `The specified share snapshot '${time}' does not exist.`);

function header(request: SandboxRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function interceptShareSnapshot(ctx: {
  env: SandboxEnvironment;
  store: ArmStore;
  request: SandboxRequest;
  id: string;
  engine: ArmEngine;
}): SandboxResponse | undefined {
  const { request, store, env } = ctx;
  const expand = (request.query.get("$expand") ?? "").split(",").map((part) => part.trim().toLowerCase());
  const snapshotHeader = header(request, "x-ms-snapshot");
  const takesSnapshot = request.method === "PUT" && expand.includes("snapshots");
  if (!takesSnapshot && snapshotHeader === undefined) return undefined;
  const share = store.get(ctx.id);
  const name = ctx.id.split("/").pop() ?? "";
  if (takesSnapshot) {
    if (!share) throw new SandboxHttpError(404, "ShareNotFound", `The specified share '${name}' does not exist.`);
    const snapshots = snapshotsOf(share);
    if (snapshots.length >= MAX_SHARE_SNAPSHOTS)
      throw ArmErrors.conflict(
        "ShareSnapshotCountExceeded",
        `The total number of snapshots for the share '${name}' is over the limit of ${MAX_SHARE_SNAPSHOTS}.`,
      );
    // Snapshot times are unique per share: two in the same millisecond differ in their ticks.
    const at = env.clock.now();
    let time = snapshotTimeAt(at, randomInt(1, 10_000));
    while (snapshots.some((snapshot) => snapshot.snapshotTime === time))
      time = snapshotTimeAt(at, randomInt(1, 10_000));
    const body = asRecord(request.body);
    const metadata = asRecord(asRecord(body.properties).metadata) as Record<string, string>;
    const snapshot: StoredSnapshot = {
      snapshotTime: time,
      metadata: { ...metadata },
      createdAt: at,
      ...(share.hidden.content !== undefined ? { content: structuredClone(share.hidden.content) } : {}),
    };
    share.hidden.snapshots = [...snapshots, snapshot];
    return { status: 201, body: snapshotView(share, snapshot) };
  }
  const time = snapshotHeader!;
  if (request.method === "GET") {
    if (!share) throw new SandboxHttpError(404, "ShareNotFound", `The specified share '${name}' does not exist.`);
    const snapshot = snapshotsOf(share).find((candidate) => candidate.snapshotTime === time);
    if (!snapshot) throw snapshotNotFound(time);
    return { status: 200, body: snapshotView(share, snapshot) };
  }
  if (request.method === "DELETE") {
    if (!share) return { status: 204 };
    const snapshots = snapshotsOf(share);
    if (!snapshots.some((candidate) => candidate.snapshotTime === time)) return { status: 204 };
    share.hidden.snapshots = snapshots.filter((candidate) => candidate.snapshotTime !== time);
    return { status: 200 };
  }
  throw ArmErrors.badRequest("InvalidHeaderValue", "x-ms-snapshot is allowed only on GET and DELETE of a share.");
}

/** FileShares_List: with `$expand=snapshots`, each share's snapshots after it. */
export function listSharesWithSnapshots(ctx: ListContext): ArmResource[] {
  const prefix = `${ctx.scope.toLowerCase()}/`;
  const shares = ctx.items.filter((stored) => stored.resource.id.toLowerCase().startsWith(prefix));
  const expand = (ctx.request.query.get("$expand") ?? "").toLowerCase().split(",");
  if (!expand.map((part) => part.trim()).includes("snapshots")) return shares.map((stored) => stored.resource);
  return shares.flatMap((stored) => [
    stored.resource,
    ...snapshotsOf(stored).map((snapshot) => snapshotView(stored, snapshot)),
  ]);
}
