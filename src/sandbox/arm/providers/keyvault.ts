/**
 * Microsoft.KeyVault/vaults: global names, soft delete (a deleted vault holds its name; its role
 * assignments are deleted and not restored on recover), `createMode: recover`, purge.
 */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { SandboxHttpError } from "../../types";
import { NAME_RULES, asRecord } from "./rules";
import { normalizeLocation } from "./resources";
import { resourceGroupOf, type DeletedVault } from "../store";

export function defineKeyVault(engine: ArmEngine, hooks: { onPurge(vaultName: string): void }): void {
  const store = engine.store;
  engine.define({
    type: "Microsoft.KeyVault/vaults",
    tracked: true,
    nameRule: NAME_RULES.vault,
    put: ({ body, name, id, existing, resourceGroup, request }) => {
      const properties = asRecord(body.properties);
      const location = normalizeLocation(body.location);
      const createMode = properties.createMode ?? "default";
      const sku = asRecord(properties.sku);
      if (createMode !== "recover" && (typeof properties.tenantId !== "string" || !sku.name || !sku.family)) {
        throw ArmErrors.badRequest("BadRequest", "The request is missing required properties: properties.tenantId and properties.sku (family, name) are required.");
      }
      const deleted = store.deletedVaults.get(name.toLowerCase());
      if (createMode === "recover") {
        if (!deleted || resourceGroupOf(deleted.properties.vaultId)?.toLowerCase() !== resourceGroup?.toLowerCase() || deleted.properties.location !== location) {
          throw ArmErrors.badRequest("SoftDeletedVaultDoesNotExist", `A soft deleted vault with the given name '${name}' does not exist in the resource group and location specified. Ensure that the name, location and resource group are correct.`);
        }
        store.deletedVaults.delete(name.toLowerCase());
        const restored = deleted.vault.resource;
        return { resource: { ...restored, tags: (body.tags as Record<string, string>) ?? restored.tags, properties: { ...asRecord(restored.properties), provisioningState: "Succeeded" } }, hidden: deleted.vault.hidden };
      }
      if (!existing) {
        if (deleted) {
          throw ArmErrors.conflict("ConflictError", `Vault name '${name}' is already in use. The vault was recently deleted but not purged. Recover it with createMode 'recover' or purge it before reusing the name.`);
        }
        const taken = store.listByType("Microsoft.KeyVault/vaults").find((stored) => stored.resource.name.toLowerCase() === name.toLowerCase());
        if (taken) throw ArmErrors.conflict("VaultAlreadyExists", `The vault name '${name}' is already in use. Vault names are globally unique so it is possible that the name is already taken.`);
      }
      const before = asRecord(existing?.resource.properties);
      if (before.enablePurgeProtection === true && properties.enablePurgeProtection === false) {
        throw ArmErrors.badRequest("BadRequest", "The property \"enablePurgeProtection\" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.");
      }
      if (properties.enableSoftDelete === false) throw ArmErrors.badRequest("BadRequest", "The property \"enableSoftDelete\" cannot be set to false. Soft delete is always enabled.");
      const retention = Number(properties.softDeleteRetentionInDays ?? before.softDeleteRetentionInDays ?? 90);
      if (!Number.isInteger(retention) || retention < 7 || retention > 90) throw ArmErrors.badRequest("BadRequest", "softDeleteRetentionInDays must be between 7 and 90.");
      const port = request.baseUrl.split(":").at(-1);
      return {
        resource: {
          id,
          name,
          type: "Microsoft.KeyVault/vaults",
          location,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            ...before,
            ...properties,
            createMode: undefined,
            tenantId: properties.tenantId ?? before.tenantId,
            // Left null, RBAC mode is off (azure-facts §B).
            enableRbacAuthorization: properties.enableRbacAuthorization ?? before.enableRbacAuthorization ?? false,
            enableSoftDelete: true,
            softDeleteRetentionInDays: retention,
            enablePurgeProtection: before.enablePurgeProtection === true ? true : (properties.enablePurgeProtection ?? null),
            accessPolicies: properties.accessPolicies ?? before.accessPolicies ?? [],
            vaultUri: `https://${name.toLowerCase()}.vault.sandbox.localhost:${port}/`,
            provisioningState: "Succeeded",
          },
        },
      };
    },
    onDelete: ({ env, resource }) => {
      const properties = asRecord(resource.resource.properties);
      const now = env.clock.now();
      const deleted: DeletedVault = {
        id: `/subscriptions/${env.subscriptionId}/providers/Microsoft.KeyVault/locations/${resource.resource.location}/deletedVaults/${resource.resource.name}`,
        name: resource.resource.name,
        type: "Microsoft.KeyVault/deletedVaults",
        properties: {
          vaultId: resource.resource.id,
          location: String(resource.resource.location),
          deletionDate: new Date(now).toISOString(),
          scheduledPurgeDate: new Date(now + Number(properties.softDeleteRetentionInDays ?? 90) * 86_400_000).toISOString(),
          tags: resource.resource.tags,
          purgeProtectionEnabled: properties.enablePurgeProtection === true,
        },
        vault: resource,
      };
      engine.store.deletedVaults.set(resource.resource.name.toLowerCase(), deleted);
    },
  });

  const view = (deleted: DeletedVault) => ({ id: deleted.id, name: deleted.name, type: deleted.type, properties: deleted.properties });

  // /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}[/purge]
  engine.define({
    type: "Microsoft.KeyVault/locations/deletedVaults#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "Microsoft.KeyVault/locations/deletedVaults");
    },
    actions: {
      handle: ({ request }) => {
        const match = /\/locations\/([^/]+)\/deletedVaults\/([^/]+)$/i.exec(request.path);
        if (!match || request.method !== "GET") throw ArmErrors.methodNotAllowed(request.method, "Microsoft.KeyVault/locations/deletedVaults");
        const deleted = store.deletedVaults.get(match[2].toLowerCase());
        if (!deleted || deleted.properties.location !== normalizeLocation(match[1])) throw new SandboxHttpError(404, "DeletedVaultNotFound", `The specified deleted vault '${match[2]}' does not exist in location '${match[1]}'.`);
        return { status: 200, body: view(deleted) };
      },
    },
  });
  engine.define({
    type: "Microsoft.KeyVault/locations/deletedVaults/purge#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "purge");
    },
    actions: {
      handle: ({ request, engine: arm }) => {
        const match = /\/locations\/([^/]+)\/deletedVaults\/([^/]+)\/purge$/i.exec(request.path);
        if (!match || request.method !== "POST") throw ArmErrors.methodNotAllowed(request.method, "purge");
        const deleted = store.deletedVaults.get(match[2].toLowerCase());
        if (!deleted) throw new SandboxHttpError(404, "DeletedVaultNotFound", `The specified deleted vault '${match[2]}' does not exist.`);
        if (deleted.properties.purgeProtectionEnabled) throw ArmErrors.conflict("ConflictError", `Vault '${match[2]}' has purge protection enabled and cannot be purged before ${deleted.properties.scheduledPurgeDate}.`);
        store.deletedVaults.delete(match[2].toLowerCase());
        hooks.onPurge(match[2]);
        return { status: 202, headers: arm.startOperation(request, deleted.id, "Microsoft.KeyVault/deletedVaults", "delete") };
      },
    },
  });
  engine.define({
    type: "Microsoft.KeyVault/deletedVaults#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "deletedVaults");
    },
    actions: { handle: () => ({ status: 200, body: { value: [...store.deletedVaults.values()].map(view) } }) },
  });
  engine.define({
    type: "Microsoft.KeyVault/checkNameAvailability#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "checkNameAvailability");
    },
    actions: {
      handle: ({ request }) => {
        const name = String(asRecord(request.body).name ?? "");
        if (!NAME_RULES.vault.test(name)) return { status: 200, body: { nameAvailable: false, reason: "AccountNameInvalid", message: NAME_RULES.vault.message(name) } };
        const inUse = Boolean(store.findVault(name));
        return { status: 200, body: inUse ? { nameAvailable: false, reason: "AlreadyExists", message: `The vault name '${name}' is already in use.` } : { nameAvailable: true } };
      },
    },
  });
}
