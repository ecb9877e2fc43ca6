/**
 * The Azure Files share registered on the managed environment (what the app's volume names).
 * The account key is read here and goes straight into the request, never into history.
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { permanent } from "../errors";
import { containedIn } from "./teardown";

export const environmentStorageKind = defineKind({
  kind: "environmentStorage",
  summary: "The state share registered on the managed environment (with the account key).",
  api: "ARM Microsoft.App/managedEnvironments/storages",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const storages = deps.clients.containerApps.managedEnvironmentsStorages;
    return {
      ensure: async ({ nodeId, desired }, secrets) => {
        const current = await getOrUndefined(() =>
          storages.get(desired.resourceGroup, desired.environmentName, desired.name),
        );
        // ARM never returns the account key, so only the visible settings can be compared; key
        // rotation rewrites this resource explicitly.
        const wanted = {
          properties: {
            azureFile: {
              accountName: desired.storageAccountName,
              shareName: desired.shareName,
              accessMode: desired.accessMode,
            },
          },
        };
        const changed = current ? diffDesired(current, wanted) : ["."];
        let storage = current;
        if (changed.length > 0) {
          deps.beforeWrite(current ? changed : [], Boolean(current));
          const keys = await deps.clients.storage.storageAccounts.listKeys(
            desired.resourceGroup,
            desired.storageAccountName,
          );
          const accountKey = secrets.add(keys.keys?.find((key) => key.keyName === "key1")?.value);
          if (!accountKey)
            throw permanent("StorageKeyUnavailable", `Storage account ${desired.storageAccountName} returned no key1.`);
          storage = await storages.createOrUpdate(desired.resourceGroup, desired.environmentName, desired.name, {
            properties: { azureFile: { ...wanted.properties.azureFile, accountKey } },
          });
        }
        return {
          nodeId,
          action: convergeAction(Boolean(current), changed),
          resourceId: storage?.id,
          changed: current ? changed : [],
          outputs: { resourceId: storage?.id ?? null, name: desired.name },
        };
      },
      remove: async ({ nodeId, desired }) =>
        removeResource(
          nodeId,
          deps,
          () => storages.get(desired.resourceGroup, desired.environmentName, desired.name),
          () => storages.delete(desired.resourceGroup, desired.environmentName, desired.name),
        ),
    };
  },
});
