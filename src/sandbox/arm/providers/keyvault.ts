/**
 * Microsoft.KeyVault/vaults: global names; a PUT replaces the vault's settings (omitted access
 * policies are gone, an omitted enableRbacAuthorization is false: the "redeploy wipes access
 * policies" trap), except what Azure makes irreversible (soft delete, purge protection, the
 * retention set at creation); soft delete (a deleted vault holds its name until purged, by hand or
 * when its retention ends; its role assignments are deleted and not restored on recover);
 * `createMode: recover`; purge under the vault's own location.
 */
import type { ArmEngine } from "../engine";
import { subscriptionOf } from "../../service";
import { ArmErrors } from "../errors";
import { SandboxHttpError } from "../../types";
import { NAME_RULES, asRecord, clone, isGuid } from "./rules";
import { normalizeLocation } from "./resources";
import { resourceGroupOf, type DeletedVault } from "../store";

const DAY_MS = 86_400_000;

export function defineKeyVault(engine: ArmEngine, hooks: { onPurge(vaultName: string): void }): void {
  const store = engine.store;
  const purge = (name: string) => {
    store.deletedVaults.delete(name.toLowerCase());
    hooks.onPurge(name);
  };
  // A soft-deleted vault is purged by Key Vault itself once its scheduled purge date has passed.
  engine.onSettle(() => {
    const now = engine.env.clock.now();
    for (const deleted of [...store.deletedVaults.values()])
      if (Date.parse(deleted.properties.scheduledPurgeDate) <= now) purge(deleted.name);
  });

  engine.define({
    type: "Microsoft.KeyVault/vaults",
    tracked: true,
    // Vaults_Update: a PATCH of the settings, checked like a PUT of the merged body.
    patch: "merge",
    nameRule: NAME_RULES.vault,
    put: ({ env, body, name, id, existing, resourceGroup, request }) => {
      const properties = asRecord(body.properties);
      const location = normalizeLocation(body.location);
      const createMode = properties.createMode ?? "default";
      const sku = asRecord(properties.sku);
      if (createMode !== "recover" && (typeof properties.tenantId !== "string" || !sku.name || !sku.family)) {
        throw ArmErrors.badRequest(
          "BadRequest",
          "The request is missing required properties: properties.tenantId and properties.sku (family, name) are required.",
        );
      }
      const deleted = store.deletedVaults.get(name.toLowerCase());
      if (createMode === "recover") {
        if (
          !deleted ||
          resourceGroupOf(deleted.properties.vaultId)?.toLowerCase() !== resourceGroup?.toLowerCase() ||
          deleted.properties.location !== location
        ) {
          throw ArmErrors.badRequest(
            "SoftDeletedVaultDoesNotExist",
            `A soft deleted vault with the given name '${name}' does not exist in the resource group and location specified. Ensure that the name, location and resource group are correct.`,
          );
        }
        store.deletedVaults.delete(name.toLowerCase());
        const restored = deleted.vault.resource;
        const request = asRecord(deleted.vault.hidden.request);
        return {
          resource: {
            ...restored,
            tags: (body.tags as Record<string, string>) ?? restored.tags,
            properties: { ...asRecord(restored.properties), provisioningState: "Succeeded" },
          },
          hidden: deleted.vault.hidden,
          // A later PATCH builds on the vault as it was, not on the recover request.
          request: { ...request, tags: body.tags ?? request.tags },
        };
      }
      if (!existing) {
        if (deleted) {
          throw ArmErrors.conflict(
            "ConflictError",
            `Vault name '${name}' is already in use. The vault was recently deleted but not purged. Recover it with createMode 'recover' or purge it before reusing the name.`,
          );
        }
        const taken = store
          .listByType("Microsoft.KeyVault/vaults")
          .find((stored) => stored.resource.name.toLowerCase() === name.toLowerCase());
        if (taken)
          throw ArmErrors.conflict(
            "VaultAlreadyExists",
            `The vault name '${name}' is already in use. Vault names are globally unique so it is possible that the name is already taken.`,
          );
      }
      const before = asRecord(existing?.resource.properties);
      const tenantId = String(properties.tenantId);
      // A vault's tenant may be changed (after a subscription moves), but only to the subscription's tenant.
      if (
        !isGuid(tenantId) ||
        (tenantId.toLowerCase() !== env.tenantId.toLowerCase() &&
          tenantId.toLowerCase() !== String(before.tenantId ?? "").toLowerCase())
      ) {
        throw ArmErrors.badRequest(
          "BadRequest",
          `The tenant '${tenantId}' is not valid for this vault: it must be the tenant of subscription '${env.subscriptionId}' ('${env.tenantId}').`,
        );
      }
      // The swagger: enabling purge protection "is irreversible - that is, the property does not accept false as its value".
      if (properties.enablePurgeProtection === false) {
        throw ArmErrors.badRequest(
          "BadRequest",
          'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.',
        );
      }
      if (properties.enableSoftDelete === false)
        throw ArmErrors.badRequest(
          "BadRequest",
          'The property "enableSoftDelete" cannot be set to false. Soft delete is always enabled.',
        );
      const asked = properties.softDeleteRetentionInDays;
      if (
        asked !== undefined &&
        asked !== null &&
        (!Number.isInteger(asked) || Number(asked) < 7 || Number(asked) > 90)
      ) {
        throw ArmErrors.badRequest(
          "BadRequest",
          'The property "softDeleteRetentionInDays" must be an integer between 7 and 90.',
        );
      }
      // The retention interval is set once, at creation.
      if (
        existing &&
        asked !== undefined &&
        asked !== null &&
        Number(asked) !== Number(before.softDeleteRetentionInDays)
      ) {
        throw ArmErrors.badRequest(
          "BadRequest",
          `The property "softDeleteRetentionInDays" has been set already (${String(before.softDeleteRetentionInDays)} days) and it can't be modified.`,
        );
      }
      const retention = existing ? Number(before.softDeleteRetentionInDays) : Number(asked ?? 90);
      const port = request.baseUrl.split(":").at(-1);
      // Full replace: only what the body says, plus the irreversible settings and what Key Vault computes.
      const { createMode: _createMode, provisioningState: _state, vaultUri: _uri, ...given } = properties;
      return {
        resource: {
          id,
          name,
          type: "Microsoft.KeyVault/vaults",
          location,
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            ...given,
            tenantId,
            // Left null, RBAC mode is off (azure-facts §B).
            enableRbacAuthorization: properties.enableRbacAuthorization ?? false,
            enableSoftDelete: true,
            softDeleteRetentionInDays: retention,
            enablePurgeProtection:
              before.enablePurgeProtection === true || properties.enablePurgeProtection === true ? true : null,
            accessPolicies: clone(properties.accessPolicies) ?? [],
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
        id: `/subscriptions/${subscriptionOf(resource.resource.id)}/providers/Microsoft.KeyVault/locations/${resource.resource.location}/deletedVaults/${resource.resource.name}`,
        name: resource.resource.name,
        type: "Microsoft.KeyVault/deletedVaults",
        properties: {
          vaultId: resource.resource.id,
          location: String(resource.resource.location),
          deletionDate: new Date(now).toISOString(),
          scheduledPurgeDate: new Date(now + Number(properties.softDeleteRetentionInDays ?? 90) * DAY_MS).toISOString(),
          tags: resource.resource.tags,
          purgeProtectionEnabled: properties.enablePurgeProtection === true,
        },
        vault: resource,
      };
      engine.store.deletedVaults.set(resource.resource.name.toLowerCase(), deleted);
    },
  });

  const view = (deleted: DeletedVault) => ({
    id: deleted.id,
    name: deleted.name,
    type: deleted.type,
    properties: deleted.properties,
  });
  /** The deleted vault, only under the location it was deleted from (Key Vault keys deleted vaults by location). */
  const deletedIn = (location: string, name: string) => {
    const deleted = store.deletedVaults.get(name.toLowerCase());
    if (!deleted || deleted.properties.location !== normalizeLocation(location))
      throw new SandboxHttpError(
        404,
        "DeletedVaultNotFound",
        `The specified deleted vault '${name}' does not exist in location '${location}'.`,
      );
    return deleted;
  };

  // /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}[/purge]
  engine.define({
    type: "Microsoft.KeyVault/locations/deletedVaults#special",
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", "Microsoft.KeyVault/locations/deletedVaults");
    },
    actions: {
      handle: ({ request }) => {
        const match = /\/locations\/([^/]+)\/deletedVaults\/([^/]+)$/i.exec(request.path);
        if (!match || request.method !== "GET")
          throw ArmErrors.methodNotAllowed(request.method, "Microsoft.KeyVault/locations/deletedVaults");
        return { status: 200, body: view(deletedIn(match[1], match[2])) };
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
        const deleted = deletedIn(match[1], match[2]);
        if (deleted.properties.purgeProtectionEnabled)
          throw ArmErrors.conflict(
            "ConflictError",
            `Vault '${match[2]}' has purge protection enabled and cannot be purged before ${deleted.properties.scheduledPurgeDate}.`,
          );
        purge(deleted.name);
        // Vaults_PurgeDeleted: 202 with Location (final-state-via location).
        return {
          status: 202,
          headers: arm.startOperation(request, deleted.id, "Microsoft.KeyVault/deletedVaults", "location"),
        };
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
        if (!NAME_RULES.vault.test(name))
          return {
            status: 200,
            body: { nameAvailable: false, reason: "AccountNameInvalid", message: NAME_RULES.vault.message(name) },
          };
        const inUse = Boolean(store.findVault(name));
        return {
          status: 200,
          body: inUse
            ? { nameAvailable: false, reason: "AlreadyExists", message: `The vault name '${name}' is already in use.` }
            : { nameAvailable: true },
        };
      },
    },
  });
}
