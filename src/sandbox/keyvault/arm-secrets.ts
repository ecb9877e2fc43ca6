/**
 * Microsoft.KeyVault/vaults/secrets through ARM (Secrets_CreateOrUpdate, Secrets_Get,
 * Secrets_List), the management-plane way deployment templates write secrets: a PUT adds a
 * version to the same store the Key Vault data plane serves (index.ts), so data-plane reads and
 * Container Apps' Key Vault references see it; ARM never returns a value. Authorization is ARM's:
 * the Action `Microsoft.KeyVault/vaults/secrets/write` (Contributor has it, a data-plane role such
 * as Key Vault Secrets Officer does not) or `.../read`, from every assignment at the scope or
 * above, with no data-plane propagation wait. A soft-deleted name is refused with 409 Conflict
 * (ARM cannot recover a secret: that is the data plane's). ARM's PATCH (Secrets_Update) is not
 * modelled (Shire never sends it): 405; nor is a DELETE, which Azure does not offer either.
 */
import type { ArmEngine } from "../arm/engine";
import { parseArmPath } from "../arm/engine";
import { ArmErrors } from "../arm/errors";
import { armSchemaValidator } from "../arm/schemas";
import { asRecord } from "../arm/providers/rules";
import type { ArmStore, StoredResource } from "../arm/store";
import { armActionAllowed } from "../auth";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse } from "../types";
import { oversizedValue, type NewSecretVersion, type SecretEntry, type SecretVersion, type VaultView } from "./model";

export const ARM_SECRET_TYPE = "Microsoft.KeyVault/vaults/secrets";

/** What the ARM provider needs of the data plane's store (keyvault/index.ts). */
export interface VaultSecretStore {
  /** The vault's secrets, those past their retention swept. */
  secretsOf(vault: VaultView): Map<string, SecretEntry>;
  addVersion(
    secrets: Map<string, SecretEntry>,
    name: string,
    body: NewSecretVersion,
  ): { entry: SecretEntry; version: SecretVersion; existed: boolean };
  checkName(name: string): void;
  checkAttributes(body: { contentType?: unknown; tags?: unknown }): void;
  /** A write happened (persistence compares the secrets again). */
  touched(): void;
}

export function defineArmSecrets(engine: ArmEngine, vaults: VaultSecretStore): void {
  const viewOf = (vault: StoredResource): VaultView => ({
    id: vault.resource.id,
    name: vault.resource.name.toLowerCase(),
    location: String(vault.resource.location ?? "westeurope"),
    properties: asRecord(vault.resource.properties),
  });

  const authorize = (request: SandboxRequest, scope: string, verb: "read" | "write", store: ArmStore) => {
    const action = `${ARM_SECRET_TYPE}/${verb}`;
    const caller = request.caller;
    if (!caller || !armActionAllowed(store, caller.oid, scope, action)) {
      const who = caller?.appId ?? caller?.oid ?? "unknown";
      throw new SandboxHttpError(
        403,
        "AuthorizationFailed",
        `The client '${who}' with object id '${caller?.oid ?? "unknown"}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
    }
  };

  /** The ARM shape of a secret: its latest version's attributes and URIs, never its value. */
  const armView = (vault: StoredResource, entry: SecretEntry) => {
    const version = entry.versions.at(-1)!;
    const base = String(asRecord(vault.resource.properties).vaultUri ?? "");
    return {
      id: `${vault.resource.id}/secrets/${entry.name}`,
      name: entry.name,
      type: ARM_SECRET_TYPE,
      location: vault.resource.location,
      tags: version.tags ?? {},
      properties: {
        ...(version.contentType ? { contentType: version.contentType } : {}),
        attributes: {
          enabled: version.enabled,
          ...(version.notBefore !== undefined ? { nbf: version.notBefore } : {}),
          ...(version.expires !== undefined ? { exp: version.expires } : {}),
          created: Math.floor(version.created / 1000),
          updated: Math.floor(version.updated / 1000),
        },
        secretUri: `${base}secrets/${entry.name}`,
        secretUriWithVersion: `${base}secrets/${entry.name}/${version.version}`,
      },
    };
  };

  const put = (request: SandboxRequest, vault: StoredResource, name: string): SandboxResponse => {
    const sent = request.body;
    if (!sent || typeof sent !== "object" || Array.isArray(sent))
      throw ArmErrors.invalidContent(
        "The request content was invalid and could not be deserialized: the body must be a JSON object.",
      );
    const body = sent as Record<string, unknown>;
    armSchemaValidator()?.validate(ARM_SECRET_TYPE, body, request.query.get("api-version") ?? undefined);
    const properties = asRecord(body.properties);
    if (typeof properties.value !== "string")
      throw ArmErrors.badRequest("BadRequest", "The property 'properties.value' is required to create a secret.");
    const oversized = oversizedValue(properties.value);
    if (oversized) throw ArmErrors.badRequest("BadRequest", oversized);
    const tags = body.tags as Record<string, string> | undefined;
    const contentType = typeof properties.contentType === "string" ? properties.contentType : undefined;
    vaults.checkAttributes({ contentType, tags });
    const secrets = vaults.secretsOf(viewOf(vault));
    if (secrets.get(name.toLowerCase())?.deletedAt !== undefined)
      throw ArmErrors.conflict(
        "Conflict",
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      );
    const attributes = asRecord(properties.attributes);
    const { entry, existed } = vaults.addVersion(secrets, name, {
      value: properties.value,
      contentType,
      tags,
      attributes: {
        enabled: typeof attributes.enabled === "boolean" ? attributes.enabled : undefined,
        exp: typeof attributes.exp === "number" ? attributes.exp : undefined,
        nbf: typeof attributes.nbf === "number" ? attributes.nbf : undefined,
      },
    });
    vaults.touched();
    return { status: existed ? 200 : 201, body: armView(vault, entry) };
  };

  engine.define({
    type: ARM_SECRET_TYPE,
    put: () => {
      throw ArmErrors.methodNotAllowed("PUT", ARM_SECRET_TYPE);
    },
    // Every request on one secret: the store is the data plane's, not ARM's.
    intercept: ({ store, request, id }) => {
      const parsed = parseArmPath(request.path)!;
      if (!["GET", "HEAD", "PUT"].includes(request.method))
        throw ArmErrors.methodNotAllowed(request.method, ARM_SECRET_TYPE);
      if (
        !parsed.resourceGroup ||
        !store.get(`/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}`)
      )
        throw ArmErrors.resourceGroupNotFound(parsed.resourceGroup ?? "");
      const vault = parsed.parentId ? store.get(parsed.parentId) : undefined;
      if (!vault) throw ArmErrors.parentNotFound(parsed.parentId ?? id);
      const name = parsed.name!;
      authorize(request, id, request.method === "PUT" ? "write" : "read", store);
      vaults.checkName(name);
      if (request.method === "PUT") return put(request, vault, name);
      const entry = vaults.secretsOf(viewOf(vault)).get(name.toLowerCase());
      if (!entry || entry.deletedAt !== undefined)
        throw ArmErrors.resourceNotFound(ARM_SECRET_TYPE, `${vault.resource.name}/${name}`, parsed.resourceGroup);
      return request.method === "HEAD" ? { status: 204 } : { status: 200, body: armView(vault, entry) };
    },
    // Secrets_List: the vault's live secrets (the engine has checked the vault exists).
    list: ({ store, request, scope }) => {
      const vault = store.get(scope)!;
      authorize(request, `${vault.resource.id}/secrets`, "read", store);
      return [...vaults.secretsOf(viewOf(vault)).values()]
        .filter((entry) => entry.deletedAt === undefined)
        .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()))
        .map((entry) => armView(vault, entry));
    },
  });
}
