/**
 * The slug's Key Vault, in RBAC mode. Soft-delete aware: a soft-deleted vault of the same name in
 * the same resource group is recovered (its role assignments are gone after recovery; the role
 * assignment steps that depend on this one put them back). Removal leaves the vault soft-deleted
 * (recoverable for its retention) unless purge is asked for, and purge protection, once on, keeps
 * it until its scheduled purge date whatever Shire asks: the step says so.
 */
import { getOrUndefined, isNotFound, removalResult } from "../arm";
import { defineKind } from "../define";
import { diffDesired } from "../diff";
import { permanent } from "../errors";
import { provisioningDifference } from "../provisioning";
import { containedIn } from "./teardown";

/** Top-level properties without the ones Azure answered as null. */
function withoutNulls<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== null && item !== undefined)) as T;
}

export const keyVaultKind = defineKind({
  kind: "keyVault",
  summary:
    "Key Vault in RBAC mode holding the slug's secrets; soft-delete aware (recovered on install, purged only on request).",
  api: "ARM Microsoft.KeyVault/vaults",
  // Deleting the group soft-deletes the vault; only a purge needs this step's own work.
  teardown: (desired, context) => (context.purge ? "remove" : containedIn(desired.resourceGroup, context)),
  activities: (deps) => {
    const vaults = deps.clients.keyVault.vaults;
    return {
      ensure: async ({ nodeId, desired }) => {
        const current = await getOrUndefined(() => vaults.get(desired.resourceGroup, desired.name));
        const properties = {
          tenantId: desired.tenantId,
          sku: { family: "A" as const, name: "standard" as const },
          enableRbacAuthorization: true,
          enableSoftDelete: true,
          publicNetworkAccess: "Enabled",
          ...(desired.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
        };

        if (current) {
          const changed = [
            ...provisioningDifference(`Key Vault ${desired.name}`, current.properties?.provisioningState),
            ...diffDesired(current, { tags: desired.tags, properties }),
          ];
          if (changed.length === 0) return summary("unchanged", current, []);
          deps.beforeWrite(changed, true);
          const updated = await vaults.createOrUpdate(
            desired.resourceGroup,
            desired.name,
            {
              location: desired.location,
              tags: { ...(current.tags ?? {}), ...desired.tags },
              // A PUT replaces the vault's settings: keep what Azure has (access policies, network
              // rules, purge protection once on), minus what it answered as null (ARM reads null as
              // absent, and a schema-checked body would refuse it).
              properties: { ...withoutNulls(current.properties), ...properties },
            },
            deps.clients.operationPolling,
          );
          return summary("updated", updated, changed);
        }

        const deleted = await getOrUndefined(() => vaults.getDeleted(desired.name, desired.location));
        if (deleted) {
          const deletedFrom = deleted.properties?.vaultId ?? "";
          const sameGroup = deletedFrom
            .toLowerCase()
            .includes(`/resourcegroups/${desired.resourceGroup.toLowerCase()}/`);
          if (!sameGroup) {
            throw permanent(
              "VaultNameSoftDeleted",
              `Key Vault name ${desired.name} is held by a soft-deleted vault from ${deletedFrom || "another resource group"}; purge it (or wait for its retention to end) before installing this slug.`,
            );
          }
          deps.beforeWrite(["recover soft-deleted vault"], false);
          const recovered = await vaults.createOrUpdate(
            desired.resourceGroup,
            desired.name,
            {
              location: desired.location,
              tags: desired.tags,
              properties: { ...properties, createMode: "recover" },
            },
            deps.clients.operationPolling,
          );
          return summary("recovered", recovered, ["."]);
        }

        deps.beforeWrite([], false);
        const created = await vaults.createOrUpdate(
          desired.resourceGroup,
          desired.name,
          {
            location: desired.location,
            tags: desired.tags,
            properties: {
              ...properties,
              softDeleteRetentionInDays: desired.softDeleteRetentionInDays,
              createMode: "default",
            },
          },
          deps.clients.operationPolling,
        );
        return summary("created", created, []);

        function summary(
          action: "created" | "updated" | "unchanged" | "recovered",
          vault: { id?: string; properties?: { vaultUri?: string } },
          changed: string[],
        ) {
          return {
            nodeId,
            action,
            resourceId: vault.id,
            changed,
            outputs: {
              resourceId: vault.id ?? null,
              vaultUri: vault.properties?.vaultUri ?? null,
              recovered: action === "recovered",
            },
          };
        }
      },

      remove: async ({ nodeId, desired, purge }) => {
        const current = await getOrUndefined(() => vaults.get(desired.resourceGroup, desired.name));
        if (current) {
          deps.beforeWrite(["."], true, true);
          try {
            await vaults.delete(desired.resourceGroup, desired.name);
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        const result = removalResult(nodeId, current?.id);
        if (!purge) return result;
        const deleted = await getOrUndefined(() => vaults.getDeleted(desired.name, desired.location));
        if (!deleted) return result;
        if (deleted.properties?.purgeProtectionEnabled) {
          return {
            ...removalResult(nodeId, deleted.id ?? current?.id),
            notes: [
              `Key Vault ${desired.name} has purge protection: it stays soft-deleted (holding its name) until ${deleted.properties.scheduledPurgeDate?.toISOString() ?? "its scheduled purge date"}; no one can purge it sooner.`,
            ],
          };
        }
        deps.beforeWrite(["purge deleted vault"], true, true);
        try {
          await vaults.beginPurgeDeletedAndWait(desired.name, desired.location, deps.clients.operationPolling);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        return removalResult(nodeId, deleted.id ?? current?.id ?? nodeId);
      },
    };
  },
});
