/**
 * Microsoft.Storage: accounts (global names, two keys, listKeys / regenerateKey), the default
 * file and blob services, file shares.
 *
 * Accounts: a create is an LRO answered 202 with `Location` only and no body (StorageAccounts_Create
 * examples), `provisioningState` Creating then ResolvingDNS; a PUT on an existing account updates
 * the properties it names and keeps the others (the operation's own description: "a subsequent
 * create request ... with different properties, the account properties will be updated"); kind is
 * fixed at creation (only Storage -> StorageV2, the upgrade), the performance tier of the SKU too.
 */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord, newKey } from "./rules";
import { normalizeLocation } from "./resources";
import { resourceGroupOf, type StoredResource } from "../store";
import { interceptShareSnapshot, listSharesWithSnapshots } from "./share-snapshots";

const SKUS = new Set([
  "Standard_LRS",
  "Standard_GRS",
  "Standard_RAGRS",
  "Standard_ZRS",
  "Premium_LRS",
  "Premium_ZRS",
  "Standard_GZRS",
  "Standard_RAGZRS",
]);
const KINDS = new Set(["Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"]);
/** SKUs each kind takes: FileStorage and BlockBlobStorage are premium-only, BlobStorage standard-only. */
const SKUS_BY_KIND: Record<string, (sku: string) => boolean> = {
  Storage: (sku) => sku.startsWith("Standard_") || sku === "Premium_LRS",
  StorageV2: () => true,
  BlobStorage: (sku) => ["Standard_LRS", "Standard_GRS", "Standard_RAGRS"].includes(sku),
  FileStorage: (sku) => sku.startsWith("Premium_"),
  BlockBlobStorage: (sku) => sku.startsWith("Premium_"),
};
/** Properties Storage computes; a body's values for them are ignored, never stored. */
const READ_ONLY = [
  "provisioningState",
  "primaryEndpoints",
  "primaryLocation",
  "statusOfPrimary",
  "secondaryEndpoints",
  "secondaryLocation",
  "statusOfSecondary",
  "creationTime",
  "keyCreationTime",
  "lastGeoFailoverTime",
  "geoReplicationStats",
  "blobRestoreStatus",
  "isSkuConversionBlocked",
  "accountMigrationInProgress",
  "storageAccountSkuConversionStatus",
];
/** Set at creation, never changed (AccountPropertyCannotBeUpdated). */
const CREATE_ONLY = ["isHnsEnabled", "isNfsV3Enabled"];

export interface StorageKeys {
  key1: string;
  key2: string;
}

export function storageKeys(stored: StoredResource): StorageKeys {
  return stored.hidden.keys as StorageKeys;
}

const tierOf = (sku: string) => sku.split("_")[0];
const cannotBeUpdated = (property: string) =>
  ArmErrors.badRequest(
    "AccountPropertyCannotBeUpdated",
    `The property '${property}' was specified in the input, but it cannot be updated.`,
  );

function requireProvisioned(stored: StoredResource): void {
  if (asRecord(stored.resource.properties).provisioningState !== "Succeeded") {
    throw ArmErrors.conflict(
      "StorageAccountIsNotProvisioned",
      `The storage account provisioning state must be 'Succeeded' before executing the operation.`,
    );
  }
}

export function defineStorage(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Storage/storageAccounts",
    tracked: true,
    lro: { put: { created: 202, updated: 200, headers: "location", emptyBody: true, createOnly: true } },
    states: { creating: ["Creating", "ResolvingDNS"] },
    // StorageAccounts_Update: 200, synchronous.
    patch: "merge",
    nameRule: NAME_RULES.storageAccount,
    lockConflict: () =>
      ArmErrors.conflict(
        "StorageAccountIsNotProvisioned",
        "The storage account provisioning state must be 'Succeeded' before executing the operation.",
      ),
    put: ({ env, store, body, id, name, existing, request, mode, patch, resourceGroup }) => {
      const sku = String(asRecord(body.sku).name);
      const kind = String(body.kind);
      if (!SKUS.has(sku))
        throw ArmErrors.badRequest("InvalidRequestContent", `The value '${sku}' is not valid for sku.name.`);
      if (!KINDS.has(kind))
        throw ArmErrors.badRequest("InvalidRequestContent", `The value '${kind}' is not valid for kind.`);
      if (!existing) {
        const taken = store.findStorageAccount(name);
        if (taken) {
          // One subscription in the sandbox: a clash is always within it, which Azure names as such.
          if (resourceGroupOf(taken.resource.id)?.toLowerCase() !== resourceGroup?.toLowerCase())
            throw ArmErrors.conflict(
              "StorageAccountInAnotherResourceGroup",
              `The account ${name} is already in another resource group in this subscription.`,
            );
          throw ArmErrors.conflict("StorageAccountAlreadyTaken", `The storage account named ${name} is already taken.`);
        }
        if (!SKUS_BY_KIND[kind](sku))
          throw ArmErrors.badRequest(
            "InvalidValuesForRequestParameters",
            "Values for request parameters are invalid: kind, sku.",
          );
      } else {
        const before = existing.resource;
        const beforeKind = String(before.kind);
        if (kind !== beforeKind && !(beforeKind === "Storage" && kind === "StorageV2")) {
          // A PATCH names the property it cannot change; a PUT is a create that does not match.
          if (mode === "patch" && patch?.kind !== undefined) throw cannotBeUpdated("kind");
          throw ArmErrors.badRequest(
            "InvalidValuesForRequestParameters",
            "Values for request parameters are invalid: kind.",
          );
        }
        const beforeSku = String(asRecord(before.sku).name);
        if (tierOf(sku) !== tierOf(beforeSku) || !SKUS_BY_KIND[kind](sku))
          throw ArmErrors.badRequest(
            "InvalidValuesForRequestParameters",
            "Values for request parameters are invalid: sku.",
          );
        const beforeProperties = asRecord(before.properties);
        for (const property of CREATE_ONLY) {
          const asked = asRecord(body.properties)[property];
          if (asked !== undefined && asked !== (beforeProperties[property] ?? false)) throw cannotBeUpdated(property);
        }
      }
      const given = { ...asRecord(body.properties) };
      for (const key of READ_ONLY) delete given[key];
      const previous = { ...asRecord(existing?.resource.properties) };
      for (const key of READ_ONLY) delete previous[key];
      const port = request.baseUrl.split(":").at(-1);
      const endpoint = (service: string) => `https://${name}.${service}.sandbox.localhost:${port}/`;
      const keys: StorageKeys = existing ? storageKeys(existing) : { key1: newKey(), key2: newKey() };
      env.secrets.remember(keys.key1);
      env.secrets.remember(keys.key2);
      if (!existing) {
        // Azure creates the default services with the account.
        for (const service of ["fileServices", "blobServices"]) {
          const serviceId = `${id}/${service}/default`;
          store.put({
            resource: {
              id: serviceId,
              name: "default",
              type: `Microsoft.Storage/storageAccounts/${service}`,
              properties: {},
            },
            hidden: {},
            createdAt: env.clock.now(),
          });
        }
      }
      const location = normalizeLocation(body.location);
      return {
        resource: {
          id,
          name,
          type: "Microsoft.Storage/storageAccounts",
          location,
          kind,
          sku: { name: sku, tier: tierOf(sku) },
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            supportsHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_0",
            allowBlobPublicAccess: false,
            allowSharedKeyAccess: true,
            ...previous,
            ...given,
            primaryEndpoints: {
              blob: endpoint("blob"),
              file: endpoint("file"),
              queue: endpoint("queue"),
              table: endpoint("table"),
              web: endpoint("web"),
              dfs: endpoint("dfs"),
            },
            primaryLocation: location,
            statusOfPrimary: "available",
            creationTime: existing
              ? asRecord(existing.resource.properties).creationTime
              : new Date(env.clock.now()).toISOString(),
          },
        },
        hidden: { keys },
      };
    },
    actions: {
      listKeys: ({ resource }) => {
        requireProvisioned(resource);
        const keys = storageKeys(resource);
        return {
          status: 200,
          body: {
            keys: [
              { keyName: "key1", value: keys.key1, permissions: "FULL" },
              { keyName: "key2", value: keys.key2, permissions: "FULL" },
            ],
          },
        };
      },
      regenerateKey: ({ env, resource, request }) => {
        requireProvisioned(resource);
        const keyName = String(asRecord(request.body).keyName ?? "");
        if (keyName !== "key1" && keyName !== "key2")
          throw ArmErrors.badRequest("InvalidRequestContent", `keyName must be key1 or key2, not '${keyName}'.`);
        const keys = storageKeys(resource);
        keys[keyName] = newKey();
        env.secrets.remember(keys[keyName]);
        return {
          status: 200,
          body: {
            keys: [
              { keyName: "key1", value: keys.key1, permissions: "FULL" },
              { keyName: "key2", value: keys.key2, permissions: "FULL" },
            ],
          },
        };
      },
    },
  });

  for (const service of ["fileServices", "blobServices"] as const) {
    engine.define({
      type: `Microsoft.Storage/storageAccounts/${service}`,
      // SetServiceProperties keeps the settings a body omits, as the data plane's Set Blob Service
      // Properties documents ("if an element is omitted, the existing settings are preserved"). No PATCH.
      put: ({ body, name, existing }) => {
        if (name !== "default")
          throw ArmErrors.badRequest("InvalidResourceName", `The ${service} name must be 'default'.`);
        return {
          resource: {
            id: "",
            name,
            type: `Microsoft.Storage/storageAccounts/${service}`,
            properties: { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) },
          },
        };
      },
    });
  }

  engine.define({
    type: "Microsoft.Storage/storageAccounts/fileServices/shares",
    nameRule: NAME_RULES.fileShare,
    // FileShares_Update: 200.
    patch: "merge",
    // Share snapshots (src/sandbox/arm/providers/share-snapshots.ts).
    intercept: (ctx) => interceptShareSnapshot(ctx),
    list: (ctx) => listSharesWithSnapshots(ctx),
    put: ({ store, body, name, existing, parent }) => {
      // Full replace of what a share's PUT carries; the protocol is the exception: "Can only be specified when creating a share".
      const properties = { ...asRecord(body.properties) };
      for (const key of [
        "lastModifiedTime",
        "shareUsageBytes",
        "deleted",
        "deletedTime",
        "version",
        "remainingRetentionDays",
        "accessTierChangeTime",
        "accessTierStatus",
        "leaseStatus",
        "leaseState",
        "leaseDuration",
        "snapshotTime",
      ])
        delete properties[key];
      const quota = properties.shareQuota === undefined ? 5120 : Number(properties.shareQuota);
      if (!Number.isInteger(quota) || quota < 1 || quota > 102400)
        throw ArmErrors.badRequest(
          "InvalidRequestPropertyValue",
          `The value '${String(properties.shareQuota)}' is not allowed for property shareQuota: it must be between 1 and 102400 GiB.`,
        );
      const before = existing ? String(asRecord(existing.resource.properties).enabledProtocols ?? "SMB") : undefined;
      const protocols = String(properties.enabledProtocols ?? before ?? "SMB");
      if (before !== undefined && protocols !== before)
        throw ArmErrors.badRequest(
          "InvalidRequestPropertyValue",
          "The property 'enabledProtocols' can only be specified when creating a share; it cannot be updated.",
        );
      const account = parent ? store.get(parent.resource.id.split("/fileServices/")[0]) : undefined;
      if (protocols === "NFS" && account && String(account.resource.kind) !== "FileStorage") {
        throw ArmErrors.badRequest(
          "InvalidRequestPropertyValue",
          "NFS file shares are supported only on premium FileStorage accounts.",
        );
      }
      return {
        resource: {
          id: "",
          name,
          type: "Microsoft.Storage/storageAccounts/fileServices/shares",
          properties: {
            accessTier: "TransactionOptimized",
            ...properties,
            enabledProtocols: protocols,
            shareQuota: quota,
          },
        },
      };
    },
  });
}
