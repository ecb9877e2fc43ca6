/**
 * The slug's storage account (shared key access stays on: Azure Files SMB mounts on Container Apps
 * use the account key). Holds the state share and, for Teams, the tab page's static website.
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { assertSettledAfterWrite, provisioningDifference } from "../provisioning";
import { containedIn } from "./teardown";

export const storageAccountKind = defineKind({
  kind: "storageAccount",
  summary: "Storage account (StorageV2, TLS 1.2, no public blob access) for the state share and the Teams tab page.",
  api: "ARM Microsoft.Storage/storageAccounts",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const accounts = deps.clients.storage.storageAccounts;
    return {
      ensure: async ({ nodeId, desired }) => {
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
              ...diffDesired(current, {
                tags: desired.tags,
                sku: { name: desired.sku },
                kind: "StorageV2",
                ...settings,
              }),
            ]
          : ["."];
        let account = current;
        if (changed.length > 0) deps.beforeWrite(current ? changed : [], Boolean(current));
        if (!current) {
          account = await accounts.create(
            desired.resourceGroup,
            desired.name,
            {
              location: desired.location,
              tags: desired.tags,
              sku: { name: desired.sku as "Standard_LRS" },
              kind: "StorageV2",
              ...settings,
            },
            deps.clients.operationPolling,
          );
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
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => accounts.getProperties(desired.resourceGroup, desired.name),
          () => accounts.delete(desired.resourceGroup, desired.name),
        ),
    };
  },
});
