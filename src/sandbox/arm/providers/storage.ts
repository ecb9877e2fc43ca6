/**
 * Microsoft.Storage: accounts (global names, two keys, listKeys / regenerateKey), the default
 * file and blob services, file shares.
 */
import type { ArmEngine } from "../engine";
import { ArmErrors } from "../errors";
import { NAME_RULES, asRecord, newKey } from "./rules";
import { normalizeLocation } from "./resources";
import type { StoredResource } from "../store";

const SKUS = new Set(["Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS", "Standard_GZRS", "Standard_RAGZRS"]);
const KINDS = new Set(["Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"]);

export interface StorageKeys {
  key1: string;
  key2: string;
}

export function storageKeys(stored: StoredResource): StorageKeys {
  return stored.hidden.keys as StorageKeys;
}

export function defineStorage(engine: ArmEngine): void {
  engine.define({
    type: "Microsoft.Storage/storageAccounts",
    tracked: true,
    lro: { put: true },
    nameRule: NAME_RULES.storageAccount,
    put: ({ env, store, body, id, name, existing, request }) => {
      const sku = asRecord(body.sku);
      if (!SKUS.has(String(sku.name))) throw ArmErrors.badRequest("InvalidRequestContent", `The value '${String(sku.name)}' is not valid for sku.name.`);
      if (!KINDS.has(String(body.kind))) throw ArmErrors.badRequest("InvalidRequestContent", `The value '${String(body.kind)}' is not valid for kind.`);
      if (!existing && store.findStorageAccount(name)) throw ArmErrors.conflict("StorageAccountAlreadyTaken", `The storage account named ${name} is already taken.`);
      const properties = { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) };
      const port = request.baseUrl.split(":").at(-1);
      const endpoint = (service: string) => `https://${name}.${service}.sandbox.localhost:${port}/`;
      const keys: StorageKeys = existing ? storageKeys(existing) : { key1: newKey(), key2: newKey() };
      env.secrets.remember(keys.key1);
      env.secrets.remember(keys.key2);
      if (!existing) {
        // Azure creates the default services with the account.
        for (const service of ["fileServices", "blobServices"]) {
          const serviceId = `${id}/${service}/default`;
          store.put({ resource: { id: serviceId, name: "default", type: `Microsoft.Storage/storageAccounts/${service}`, properties: {} }, hidden: {}, createdAt: env.clock.now() });
        }
      }
      return {
        resource: {
          id,
          name,
          type: "Microsoft.Storage/storageAccounts",
          location: normalizeLocation(body.location),
          kind: body.kind,
          sku: { name: sku.name, tier: String(sku.name).startsWith("Premium") ? "Premium" : "Standard" },
          tags: (body.tags as Record<string, string>) ?? {},
          properties: {
            supportsHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_0",
            allowBlobPublicAccess: false,
            allowSharedKeyAccess: true,
            ...properties,
            primaryEndpoints: { blob: endpoint("blob"), file: endpoint("file"), queue: endpoint("queue"), table: endpoint("table"), web: endpoint("web"), dfs: endpoint("dfs") },
            primaryLocation: normalizeLocation(body.location),
            statusOfPrimary: "available",
            creationTime: existing ? properties.creationTime : new Date(env.clock.now()).toISOString(),
          },
        },
        hidden: { keys },
      };
    },
    patch: ({ body, existing }) => {
      const resource = existing!.resource;
      return {
        resource: {
          ...resource,
          tags: (body.tags as Record<string, string>) ?? resource.tags,
          ...(body.sku ? { sku: body.sku } : {}),
          properties: { ...asRecord(resource.properties), ...asRecord(body.properties) },
        },
      };
    },
    actions: {
      listKeys: ({ resource }) => {
        const keys = storageKeys(resource);
        return { status: 200, body: { keys: [{ keyName: "key1", value: keys.key1, permissions: "FULL" }, { keyName: "key2", value: keys.key2, permissions: "FULL" }] } };
      },
      regenerateKey: ({ env, resource, request }) => {
        const keyName = String(asRecord(request.body).keyName ?? "");
        if (keyName !== "key1" && keyName !== "key2") throw ArmErrors.badRequest("InvalidRequestContent", `keyName must be key1 or key2, not '${keyName}'.`);
        const keys = storageKeys(resource);
        keys[keyName] = newKey();
        env.secrets.remember(keys[keyName]);
        return { status: 200, body: { keys: [{ keyName: "key1", value: keys.key1, permissions: "FULL" }, { keyName: "key2", value: keys.key2, permissions: "FULL" }] } };
      },
    },
  });

  for (const service of ["fileServices", "blobServices"] as const) {
    engine.define({
      type: `Microsoft.Storage/storageAccounts/${service}`,
      put: ({ body, name, existing }) => {
        if (name !== "default") throw ArmErrors.badRequest("InvalidResourceName", `The ${service} name must be 'default'.`);
        return { resource: { id: "", name, type: `Microsoft.Storage/storageAccounts/${service}`, properties: { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) } } };
      },
    });
  }

  engine.define({
    type: "Microsoft.Storage/storageAccounts/fileServices/shares",
    nameRule: NAME_RULES.fileShare,
    put: ({ body, name, existing }) => {
      const properties = { ...asRecord(existing?.resource.properties), ...asRecord(body.properties) };
      const quota = properties.shareQuota === undefined ? 5120 : Number(properties.shareQuota);
      if (!Number.isInteger(quota) || quota < 1 || quota > 102400) throw ArmErrors.badRequest("InvalidRequestContent", "shareQuota must be between 1 and 102400 GiB.");
      if (properties.enabledProtocols !== undefined && !["SMB", "NFS"].includes(String(properties.enabledProtocols))) throw ArmErrors.badRequest("InvalidRequestContent", "enabledProtocols must be SMB or NFS.");
      if (existing && properties.enabledProtocols !== asRecord(existing.resource.properties).enabledProtocols && asRecord(body.properties).enabledProtocols !== undefined) {
        throw ArmErrors.badRequest("InvalidRequestContent", "enabledProtocols cannot be changed on an existing share.");
      }
      return { resource: { id: "", name, type: "Microsoft.Storage/storageAccounts/fileServices/shares", properties: { accessTier: "TransactionOptimized", enabledProtocols: "SMB", ...properties, shareQuota: quota } } };
    },
  });
}
