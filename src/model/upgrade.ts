/**
 * What an upgrade changes in a slug's Container App, pure: which image it runs, whether a move
 * between two images migrates the state on the share (the seed init container runs `openclaw
 * doctor --fix` when the OpenClaw version changes: infra/openclaw/seed-config.js), and the
 * rollback revision's restore of the share from the snapshot taken before the upgrade.
 *
 * Restore, and why it runs in the container: ARM has no "restore a share from a snapshot"
 * (FileShares_Restore brings back a soft-deleted share, not a snapshot), so the rollback revision
 * mounts the snapshot read-only (a second volume on the same environment storage with the SMB
 * client's `snapshot=` mount option) and its seed init container copies it over the state dir
 * before the gateway starts, once per snapshot (a marker on the share), under the state lease.
 */
import type { ContainerAppDesired } from "../contract/resources";
import { STATE_MOUNT_OPTIONS } from "./openclaw";
import { STATE_VOLUME_NAME } from "./names";
import { openClawVersionOf } from "./spec";

export const SNAPSHOT_VOLUME_NAME = "openclaw-state-snapshot";
export const SNAPSHOT_MOUNT = "/mnt/openclaw-state-snapshot";
export const RESTORE_ENV = { snapshot: "OPENCLAW_RESTORE_SNAPSHOT", from: "OPENCLAW_RESTORE_FROM" } as const;

type Container = NonNullable<ContainerAppDesired["template"]["containers"]>[number];

/** The OpenClaw container's image in a Container App's desired state. */
export function gatewayImageOf(desired: Pick<ContainerAppDesired, "template">): string | undefined {
  return desired.template.containers?.find((container) => container.name === "openclaw")?.image;
}

/** Does moving from one image to the other run the seed's migration (`doctor --fix`)? */
export function migratesState(fromImage: string | undefined, toImage: string): boolean {
  const from = fromImage ? openClawVersionOf(fromImage) : undefined;
  const to = openClawVersionOf(toImage);
  // An image whose tag names no version may be any version: assume the migration ran.
  return from === undefined || to === undefined || from !== to;
}

/**
 * A share snapshot's time (`2026-12-04T20:10:17.1234567Z`) as the SMB client's `snapshot=` mount
 * option takes it exactly: 100-nanosecond intervals since 1601-01-01 (mount.cifs(8)). The
 * `@GMT-YYYY.MM.DD-HH.MM.SS` form has whole seconds only, which would not name the snapshot.
 */
export function snapshotMountTime(snapshotTime: string): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?Z$/.exec(snapshotTime);
  if (!match) throw new RangeError(`'${snapshotTime}' is not a share snapshot time.`);
  const seconds = BigInt(Date.parse(`${match[1]}Z`) / 1000);
  const fraction = BigInt((match[2] ?? "").padEnd(7, "0"));
  const epochOffsetSeconds = 11_644_473_600n; // 1601-01-01 to 1970-01-01
  return ((seconds + epochOffsetSeconds) * 10_000_000n + fraction).toString();
}

/** The rollback revision: the same app, and the seed restoring the state from the snapshot first. */
export function withStateRestore(desired: ContainerAppDesired, snapshotTime: string): ContainerAppDesired {
  const clean = withoutStateRestore(desired);
  const template = clean.template;
  const state = template.volumes?.find((volume) => volume.name === STATE_VOLUME_NAME);
  if (!state) throw new TypeError("The container app has no state volume to restore.");
  const seed = (container: Container): Container =>
    container.name !== "seed-config"
      ? container
      : {
          ...container,
          env: [
            ...(container.env ?? []),
            { name: RESTORE_ENV.snapshot, value: snapshotTime },
            { name: RESTORE_ENV.from, value: SNAPSHOT_MOUNT },
          ],
          volumeMounts: [
            ...(container.volumeMounts ?? []),
            { volumeName: SNAPSHOT_VOLUME_NAME, mountPath: SNAPSHOT_MOUNT },
          ],
        };
  return {
    ...clean,
    template: {
      ...template,
      initContainers: template.initContainers?.map(seed),
      volumes: [
        ...(template.volumes ?? []),
        {
          name: SNAPSHOT_VOLUME_NAME,
          storageType: "AzureFile",
          storageName: state.storageName,
          mountOptions: `${STATE_MOUNT_OPTIONS},ro,snapshot=${snapshotMountTime(snapshotTime)}`,
        },
      ],
    },
  };
}

/** The app without a rollback's restore (what the next upgrade rolls back to). */
export function withoutStateRestore(desired: ContainerAppDesired): ContainerAppDesired {
  const template = desired.template;
  const restoreNames = new Set<string>(Object.values(RESTORE_ENV));
  const strip = (container: Container): Container => ({
    ...container,
    ...(container.env ? { env: container.env.filter((variable) => !restoreNames.has(variable.name ?? "")) } : {}),
    ...(container.volumeMounts
      ? { volumeMounts: container.volumeMounts.filter((mount) => mount.volumeName !== SNAPSHOT_VOLUME_NAME) }
      : {}),
  });
  return {
    ...desired,
    template: {
      ...template,
      ...(template.initContainers ? { initContainers: template.initContainers.map(strip) } : {}),
      ...(template.volumes
        ? { volumes: template.volumes.filter((volume) => volume.name !== SNAPSHOT_VOLUME_NAME) }
        : {}),
    },
  };
}
