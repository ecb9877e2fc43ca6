/**
 * The Azure Files share registered on the managed environment (what the app's volume names).
 * The account key is read here and goes straight into the request, never into history: the key
 * the vault's copy holds (rotation alternates key1 and key2, and moves the copy with the
 * environment storage), so converging never moves the storage back to a key a rotation left.
 */
import { convergeAction, getOrUndefined, removeResource } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { permanent } from "../errors";
import { containedIn } from "./teardown";
import { keyVaultUrl } from "../../src/azure/endpoints";
import type { EnvironmentStorageDesired } from "../../src/contract/resources";
import type { SecretScope } from "../define";

export const environmentStorageKind = defineKind({
  kind: "environmentStorage",
  summary: "The state share registered on the managed environment (with the account key).",
  api: "ARM Microsoft.App/managedEnvironments/storages",
  teardown: (desired, context) => containedIn(desired.resourceGroup, context),
  activities: (deps) => {
    const storages = deps.clients.containerApps.managedEnvironmentsStorages;
    /** The account key the vault's copy holds when it is one of the account's; else key1. */
    const keyInUse = async (desired: EnvironmentStorageDesired, secrets: SecretScope): Promise<string> => {
      const keys = await deps.clients.storage.storageAccounts.listKeys(
        desired.resourceGroup,
        desired.storageAccountName,
      );
      const values = (keys.keys ?? []).map((key) => secrets.add(key.value)).filter((value): value is string => !!value);
      const copy = desired.accountKeyFrom
        ? secrets.add(
            (
              await getOrUndefined(() =>
                deps.clients
                  .secrets(keyVaultUrl(deps.context.endpoints, desired.accountKeyFrom!.vaultName))
                  .getSecret(desired.accountKeyFrom!.secretName),
              )
            )?.value,
          )
        : undefined;
      if (copy && values.includes(copy)) return copy;
      const key1 = secrets.add(keys.keys?.find((key) => key.keyName === "key1")?.value);
      if (!key1)
        throw permanent("StorageKeyUnavailable", `Storage account ${desired.storageAccountName} returned no key1.`);
      return key1;
    };
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
          const accountKey = await keyInUse(desired, secrets);
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
