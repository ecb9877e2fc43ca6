/**
 * Storage for OpenClaw's state: the account (shared key access stays on because Azure Files SMB
 * mounts on Container Apps use the account key) and the Azure Files share mounted as the state dir.
 */
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { convergeAction, getOrUndefined } from "./arm";
import { diffDesired } from "./diff";
import { assertSettledAfterWrite, provisioningDifference } from "./provisioning";

export const ENSURE_STORAGE_ACCOUNT = "ensureStorageAccount";
export const ENSURE_FILE_SHARE = "ensureFileShare";

export interface StorageAccountDesired {
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  sku: string;
}

export interface FileShareDesired {
  resourceGroup: string;
  accountName: string;
  shareName: string;
  quotaGiB: number;
}

export function createStorageActivities(deps: ActivityDeps) {
  const ensureStorageAccount: ActivityHandler<StorageAccountDesired> = async ({ nodeId, desired }) => {
    const accounts = deps.clients.storage.storageAccounts;
    const current = await getOrUndefined(() => accounts.getProperties(desired.resourceGroup, desired.name));
    // The modular SDK flattens ARM's `properties` into the model.
    const settings = {
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2" as const,
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: true,
    };
    const changed = current
      ? [
          ...provisioningDifference(`Storage account ${desired.name}`, current.provisioningState),
          ...diffDesired(current, { tags: desired.tags, sku: { name: desired.sku }, kind: "StorageV2", ...settings }),
        ]
      : ["."];
    let account = current;
    if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
    if (!current) {
      account = await accounts.create(desired.resourceGroup, desired.name, {
        location: desired.location,
        tags: desired.tags,
        sku: { name: desired.sku as "Standard_LRS" },
        kind: "StorageV2",
        ...settings,
      });
    } else if (changed.length > 0) {
      account = await accounts.update(desired.resourceGroup, desired.name, {
        tags: { ...(current.tags ?? {}), ...desired.tags },
        // A redundancy change within a tier (LRS -> GRS) converges; Azure refuses tier or kind changes.
        sku: { name: desired.sku as "Standard_LRS" },
        ...settings,
      });
    }
    assertSettledAfterWrite(`Storage account ${desired.name}`, account?.provisioningState);
    return {
      nodeId,
      action: convergeAction(Boolean(current), changed),
      resourceId: account?.id,
      changed: current ? changed : [],
      outputs: {
        resourceId: account?.id ?? null,
        blobEndpoint: account?.primaryEndpoints?.blob ?? null,
        webEndpoint: account?.primaryEndpoints?.web ?? null,
      },
    };
  };

  const ensureFileShare: ActivityHandler<FileShareDesired> = async ({ nodeId, desired }) => {
    const shares = deps.clients.storage.fileShares;
    const current = await getOrUndefined(() =>
      shares.get(desired.resourceGroup, desired.accountName, desired.shareName),
    );
    const wanted = { shareQuota: desired.quotaGiB, enabledProtocols: "SMB" as const };
    const changed = current ? diffDesired(current, wanted) : ["."];
    let share = current;
    if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
    if (!current) share = await shares.create(desired.resourceGroup, desired.accountName, desired.shareName, wanted);
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
  };

  return { ensureStorageAccount, ensureFileShare };
}

registerActivity(ENSURE_STORAGE_ACCOUNT, () => createStorageActivities(activityDepsFromEnv()).ensureStorageAccount);
registerActivity(ENSURE_FILE_SHARE, () => createStorageActivities(activityDepsFromEnv()).ensureFileShare);
