/** The Azure Files share mounted as OpenClaw's state directory. */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { containedIn } from "./teardown";

export const fileShareKind = defineKind({
  kind: "fileShare",
  summary: "Azure Files (SMB) share mounted at OpenClaw's state directory.",
  api: "ARM Microsoft.Storage/storageAccounts/fileServices/shares",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const shares = deps.clients.storage.fileShares;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() =>
          shares.get(desired.resourceGroup, desired.accountName, desired.shareName),
        );
        const wanted = { shareQuota: desired.quotaGiB, enabledProtocols: "SMB" as const };
        const changed = current ? diffDesired(current, wanted) : ["."];
        let share = current;
        if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
        if (!current)
          share = await shares.create(desired.resourceGroup, desired.accountName, desired.shareName, wanted);
        else if (changed.length > 0)
          share = await shares.update(desired.resourceGroup, desired.accountName, desired.shareName, {
            shareQuota: desired.quotaGiB,
          });
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: share?.id,
          changed: current ? changed : [],
          outputs: { resourceId: share?.id ?? null, shareName: desired.shareName },
        };
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => shares.get(desired.resourceGroup, desired.accountName, desired.shareName),
          () => shares.delete(desired.resourceGroup, desired.accountName, desired.shareName),
        ),
    };
  },
});
