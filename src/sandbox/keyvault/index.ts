/**
 * Key Vault secrets data plane for @azure/keyvault-secrets: challenge-based authentication as the
 * real service (401 + WWW-Authenticate first; tokens checked for audience, the vault's tenant and
 * lifetime), RBAC (with propagation delay) or access policies checked per data action, versions,
 * paged lists, soft delete with the vault's retention and purge protection, recover and purge.
 * Vault existence and properties come from the ARM store: a soft-deleted vault's secrets are
 * unreachable until it is recovered, and gone once purged.
 */
import { randomBytes } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { ArmService } from "../arm";
import { rbacAllows, validateToken, type Caller } from "../auth";
import { SANDBOX_DNS_SUFFIX } from "../../azure/endpoints";
import { ChangeMark } from "../persistence";
import { setVaultSecretReader, type VaultSecretReader } from "../arm/providers/replicas";
import { defineArmSecrets } from "./arm-secrets";
import {
  deletedBundle,
  oversizedValue,
  pageOf,
  recovery,
  secretBundle,
  type NewSecretVersion,
  type SecretEntry,
  type SecretVersion,
  type VaultView,
} from "./model";

/** The api-versions @azure/keyvault-secrets 4.12 can send (its `serviceVersion` union). */
const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"]);
const LATEST_API_VERSION = "2026-04-01";
const NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Key Vault's own first-party app id: tokens may name it instead of the resource URI. */
const KEY_VAULT_APP_ID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093";
const KEY_VAULT_AUDIENCE = `https://vault.${SANDBOX_DNS_SUFFIX}`;
/** Documented limits: 25 KB values, 255-character content types, 15 tags. */
const MAX_CONTENT_TYPE = 255;
const MAX_TAGS = 15;

export interface KeyVaultService extends SandboxServiceModule {
  /** For tests: a secret's current value, straight from the store. */
  readSecretValue(vaultName: string, secretName: string): string | undefined;
  /** A secret's version (the latest without one), as a Key Vault reference resolves it; undefined when missing. */
  readSecretVersion: VaultSecretReader;
}

type Action =
  | "getSecret/action"
  | "setSecret/action"
  | "update/action"
  | "readMetadata/action"
  | "delete"
  | "recover/action"
  | "purge/action"
  | "backup/action";
const POLICY_PERMISSION: Record<Action, string> = {
  "getSecret/action": "get",
  "setSecret/action": "set",
  "update/action": "set",
  "readMetadata/action": "list",
  delete: "delete",
  "recover/action": "recover",
  "purge/action": "purge",
  "backup/action": "backup",
};

interface Authorized {
  secrets: Map<string, SecretEntry>;
  vault: VaultView;
  base: string;
}

export function createKeyVaultService(env: SandboxEnvironment, arm: ArmService): KeyVaultService {
  const vaults = new Map<string, Map<string, SecretEntry>>();
  /** Bumped by every request to a vault and every purge: only then are the secrets compared for persistence. */
  const changes = new ChangeMark();
  arm.onVaultPurged.push((name) => {
    vaults.delete(name.toLowerCase());
    changes.bump();
  });

  const readSecretVersion: VaultSecretReader = (vaultName, secretName, version) => {
    if (arm.store.findVault(vaultName)?.softDeleted !== false) return undefined;
    const entry = vaults.get(vaultName.toLowerCase())?.get(secretName.toLowerCase());
    if (!entry || entry.deletedAt !== undefined) return undefined;
    const found = version ? entry.versions.find((candidate) => candidate.version === version) : entry.versions.at(-1);
    return found && { version: found.version, value: found.value, enabled: found.enabled };
  };
  // Container Apps replicas resolve their Key Vault references when they start.
  setVaultSecretReader(arm.engine, readSecretVersion);

  const secretsOf = (vaultName: string) => {
    let secrets = vaults.get(vaultName);
    if (!secrets) vaults.set(vaultName, (secrets = new Map()));
    return secrets;
  };

  /** Deleted secrets past their scheduled purge date are gone (Key Vault purges them itself). */
  function sweep(secrets: Map<string, SecretEntry>, vault: VaultView): void {
    const retentionMs = recovery(vault).days * 86_400_000;
    for (const [key, entry] of secrets)
      if (entry.deletedAt !== undefined && env.clock.now() >= entry.deletedAt + retentionMs) secrets.delete(key);
  }

  function challenge(tenantId: string, invalid: boolean): Record<string, string> {
    return {
      "www-authenticate": `Bearer authorization="https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/${tenantId}", resource="${KEY_VAULT_AUDIENCE}"${invalid ? ', error="invalid_token"' : ""}`,
    };
  }

  function authenticate(request: SandboxRequest, vault: VaultView): Caller {
    const tenantId = String(vault.properties.tenantId ?? env.tenantId);
    const check = validateToken(request, env, { audiences: [KEY_VAULT_AUDIENCE, KEY_VAULT_APP_ID], tenantId });
    if (check.ok) return check.caller;
    const problem = check.problem;
    const unauthorized = (message: string) =>
      new SandboxHttpError(401, "Unauthorized", message, challenge(tenantId, problem.reason !== "missing"));
    switch (problem.reason) {
      case "missing":
        throw unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
      case "malformed":
        throw unauthorized("Error validating token: IDX14100: JWT is not well formed.");
      case "signature":
        throw unauthorized("AKV10046: Unable to resolve the key used for signature validation.");
      case "audience":
        throw unauthorized(`AKV10022: Invalid audience. Expected ${KEY_VAULT_AUDIENCE}, found: ${problem.found}.`);
      case "issuer":
        throw unauthorized(`AKV10032: Invalid issuer. Expected one of ${problem.expected}, found ${problem.found}.`);
      case "expired":
        throw unauthorized("Error validating token: IDX10223: Lifetime validation failed. The token is expired.");
      case "notYetValid":
        throw unauthorized("Token not yet valid.");
    }
  }

  /** Check the api-version, find the vault, authenticate, authorize the data action. */
  function authorize(request: SandboxRequest, action: Action): Authorized {
    const apiVersion = request.query.get("api-version");
    if (!apiVersion || !API_VERSIONS.has(apiVersion)) {
      throw new SandboxHttpError(
        400,
        "BadParameter",
        `The specified version (${apiVersion ?? "none"}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`,
      );
    }
    const vaultName = request.host.split(".")[0];
    changes.bump();
    const found = arm.store.findVault(vaultName);
    if (!found || found.softDeleted)
      throw new SandboxHttpError(
        404,
        "VaultNotFound",
        `Vault '${vaultName}' does not exist (in Azure its DNS name would not resolve).`,
      );
    const vault: VaultView = {
      ...found,
      name: vaultName.toLowerCase(),
      location: String(arm.store.get(found.id)?.resource.location ?? "westeurope"),
    };
    const caller = authenticate(request, vault);
    const fullAction = `Microsoft.KeyVault/vaults/secrets/${action}`;
    const rbac = vault.properties.enableRbacAuthorization === true;
    const allowed = rbac
      ? rbacAllows(env, arm.store, caller.oid, vault.id, fullAction, "dataAction")
      : (
          (vault.properties.accessPolicies as
            { objectId?: string; permissions?: { secrets?: string[] } }[] | undefined) ?? []
        ).some(
          (policy) =>
            policy.objectId?.toLowerCase() === caller.oid &&
            (policy.permissions?.secrets ?? [])
              .map((p) => p.toLowerCase())
              .some((p) => p === "all" || p === POLICY_PERMISSION[action]),
        );
    if (!allowed) {
      const who = `appid=${caller.appId ?? "unknown"};oid=${caller.oid};iss=${caller.issuer}`;
      const where = `${vault.name};location=${vault.location}`;
      const message = rbac
        ? `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: ${who}\r\nAction: '${fullAction}'\r\nResource: '${vault.id.toLowerCase()}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: ${where}\r\n`
        : `The user, group or application '${who}' does not have secrets ${POLICY_PERMISSION[action]} permission on key vault '${where}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`;
      throw new SandboxHttpError(403, "Forbidden", message, {}, { code: rbac ? "ForbiddenByRbac" : "AccessDenied" });
    }
    const secrets = secretsOf(vault.name);
    sweep(secrets, vault);
    return { secrets, vault, base: request.baseUrl };
  }

  const notFound = (name: string, version?: string) =>
    new SandboxHttpError(
      404,
      "SecretNotFound",
      version
        ? `A secret with (name/id) ${name}/${version} was not found in this key vault.`
        : `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );

  function checkName(name: string): void {
    if (!NAME.test(name))
      throw new SandboxHttpError(400, "BadParameter", `The request URI contains an invalid name: ${name}`);
  }

  function live(secrets: Map<string, SecretEntry>, name: string): SecretEntry {
    checkName(name);
    const entry = secrets.get(name.toLowerCase());
    if (!entry || entry.deletedAt !== undefined) throw notFound(name);
    return entry;
  }

  function checkAttributes(body: { contentType?: unknown; tags?: unknown }): void {
    if (typeof body.contentType === "string" && body.contentType.length > MAX_CONTENT_TYPE)
      throw new SandboxHttpError(
        400,
        "BadParameter",
        `Property 'contentType' exceeds the maximum length of ${MAX_CONTENT_TYPE} characters.`,
      );
    if (body.tags && typeof body.tags === "object" && Object.keys(body.tags).length > MAX_TAGS)
      throw new SandboxHttpError(
        400,
        "BadParameter",
        `The number of tags (${Object.keys(body.tags).length}) exceeds the maximum of ${MAX_TAGS}.`,
      );
  }

  /**
   * A new version of the secret (the Key Vault data plane's set, and ARM's Secrets_CreateOrUpdate,
   * which writes through the same store): refused while the name is soft-deleted.
   */
  function addVersion(
    secrets: Map<string, SecretEntry>,
    name: string,
    body: NewSecretVersion,
  ): { entry: SecretEntry; version: SecretVersion; existed: boolean } {
    const existing = secrets.get(name.toLowerCase());
    if (existing?.deletedAt !== undefined) {
      throw new SandboxHttpError(
        409,
        "Conflict",
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        {},
        { code: "ObjectIsDeletedButRecoverable" },
      );
    }
    env.secrets.remember(body.value);
    const now = env.clock.now();
    const version: SecretVersion = {
      version: randomBytes(16).toString("hex"),
      value: body.value,
      contentType: body.contentType,
      tags: body.tags,
      enabled: body.attributes?.enabled ?? true,
      created: now,
      updated: now,
      expires: body.attributes?.exp,
      notBefore: body.attributes?.nbf,
    };
    // The name keeps the casing it was first created with; lookups ignore case.
    const entry = existing ?? { name, versions: [] };
    entry.versions.push(version);
    secrets.set(name.toLowerCase(), entry);
    return { entry, version, existed: existing !== undefined };
  }

  const setSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "setSecret/action");
    const name = request.params.name;
    checkName(name);
    const body = (request.body ?? {}) as {
      value?: unknown;
      contentType?: string;
      tags?: Record<string, string>;
      attributes?: { enabled?: boolean; exp?: number; nbf?: number };
    };
    if (typeof body.value !== "string")
      throw new SandboxHttpError(400, "BadParameter", "Property 'value' is required.");
    const oversized = oversizedValue(body.value);
    if (oversized) throw new SandboxHttpError(400, "BadParameter", oversized);
    checkAttributes(body);
    const { entry, version } = addVersion(secrets, name, { ...body, value: body.value });
    return { status: 200, body: secretBundle(base, vault, entry.name, version, true) };
  };

  const getSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "getSecret/action");
    const entry = live(secrets, request.params.name);
    const wanted = request.params.version;
    const version = wanted ? entry.versions.find((v) => v.version === wanted) : entry.versions.at(-1);
    if (!version) throw notFound(entry.name, wanted);
    if (!version.enabled)
      throw new SandboxHttpError(
        403,
        "Forbidden",
        "Operation get is not allowed on a disabled secret.",
        {},
        { code: "SecretDisabled" },
      );
    return { status: 200, body: secretBundle(base, vault, entry.name, version, true) };
  };

  const listSecrets = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "readMetadata/action");
    const items = [...secrets.values()]
      .filter((entry) => entry.deletedAt === undefined)
      .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()))
      .map((entry) => {
        const { id, attributes, contentType, tags } = secretBundle(
          base,
          vault,
          entry.name,
          entry.versions.at(-1)!,
          false,
        );
        return { id: id.split("/").slice(0, -1).join("/"), attributes, contentType, tags };
      });
    return { status: 200, body: pageOf(items, request, "/secrets") };
  };

  const listVersions = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "readMetadata/action");
    const entry = live(secrets, request.params.name);
    const items = entry.versions.map((version) => {
      const { id, attributes, contentType, tags } = secretBundle(base, vault, entry.name, version, false);
      return { id, attributes, contentType, tags };
    });
    return { status: 200, body: pageOf(items, request, `/secrets/${entry.name}/versions`) };
  };

  const updateSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "update/action");
    const entry = live(secrets, request.params.name);
    const version = request.params.version
      ? entry.versions.find((v) => v.version === request.params.version)
      : entry.versions.at(-1);
    if (!version) throw notFound(entry.name, request.params.version);
    const body = (request.body ?? {}) as {
      contentType?: string;
      tags?: Record<string, string>;
      attributes?: { enabled?: boolean; exp?: number | null; nbf?: number | null };
    };
    checkAttributes(body);
    if (body.contentType !== undefined) version.contentType = body.contentType;
    if (body.tags !== undefined) version.tags = body.tags;
    if (body.attributes?.enabled !== undefined) version.enabled = body.attributes.enabled;
    if (body.attributes?.exp !== undefined) version.expires = body.attributes.exp ?? undefined;
    if (body.attributes?.nbf !== undefined) version.notBefore = body.attributes.nbf ?? undefined;
    version.updated = env.clock.now();
    return { status: 200, body: secretBundle(base, vault, entry.name, version, false) };
  };

  const deleteSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vault, base } = authorize(request, "delete");
    const entry = live(secrets, request.params.name);
    entry.deletedAt = env.clock.now();
    return { status: 200, body: deletedBundle(base, vault, entry) };
  };

  const deletedOnly = (secrets: Map<string, SecretEntry>, name: string) => {
    checkName(name);
    const entry = secrets.get(name.toLowerCase());
    if (!entry || entry.deletedAt === undefined)
      throw new SandboxHttpError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
    return entry;
  };

  // ARM's Secrets_CreateOrUpdate/Get/List write and read this same store (arm-secrets.ts).
  defineArmSecrets(arm.engine, {
    secretsOf: (vault) => {
      const secrets = secretsOf(vault.name);
      sweep(secrets, vault);
      return secrets;
    },
    addVersion,
    checkName,
    checkAttributes,
    touched: () => changes.bump(),
  });

  const routes: SandboxRoute[] = [
    { service: "keyvault", method: "PUT", pattern: "/secrets/:name", handler: setSecret },
    { service: "keyvault", method: "GET", pattern: "/secrets", handler: listSecrets },
    { service: "keyvault", method: "GET", pattern: "/secrets/:name/versions", handler: listVersions },
    { service: "keyvault", method: "GET", pattern: "/secrets/:name", handler: getSecret },
    { service: "keyvault", method: "GET", pattern: "/secrets/:name/:version", handler: getSecret },
    { service: "keyvault", method: "PATCH", pattern: "/secrets/:name/:version", handler: updateSecret },
    { service: "keyvault", method: "PATCH", pattern: "/secrets/:name", handler: updateSecret },
    { service: "keyvault", method: "DELETE", pattern: "/secrets/:name", handler: deleteSecret },
    {
      service: "keyvault",
      method: "GET",
      pattern: "/deletedsecrets",
      handler: (request) => {
        const { secrets, vault, base } = authorize(request, "readMetadata/action");
        const items = [...secrets.values()]
          .filter((entry) => entry.deletedAt !== undefined)
          .map((entry) => deletedBundle(base, vault, entry));
        return { status: 200, body: pageOf(items, request, "/deletedsecrets") };
      },
    },
    {
      service: "keyvault",
      method: "GET",
      pattern: "/deletedsecrets/:name",
      handler: (request) => {
        const { secrets, vault, base } = authorize(request, "readMetadata/action");
        return { status: 200, body: deletedBundle(base, vault, deletedOnly(secrets, request.params.name)) };
      },
    },
    {
      service: "keyvault",
      method: "DELETE",
      pattern: "/deletedsecrets/:name",
      handler: (request) => {
        const { secrets, vault } = authorize(request, "purge/action");
        const entry = deletedOnly(secrets, request.params.name);
        if (vault.properties.enablePurgeProtection === true) {
          throw new SandboxHttpError(
            403,
            "Forbidden",
            `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: ${vault.name};location=${vault.location}`,
          );
        }
        secrets.delete(entry.name.toLowerCase());
        return { status: 204 };
      },
    },
    {
      service: "keyvault",
      method: "POST",
      pattern: "/deletedsecrets/:name/recover",
      handler: (request) => {
        const { secrets, vault, base } = authorize(request, "recover/action");
        const entry = deletedOnly(secrets, request.params.name);
        entry.deletedAt = undefined;
        return { status: 200, body: secretBundle(base, vault, entry.name, entry.versions.at(-1)!, false) };
      },
    },
  ];

  return {
    name: "keyvault",
    routes,
    // Every secret (all versions, deleted ones too) as a record keyed `<vault>/<secret>`.
    collections: [
      {
        name: "keyvault.secrets",
        dirty: changes.tracker(),
        entries: function* () {
          for (const [vault, secrets] of vaults) for (const [key, entry] of secrets) yield [`${vault}/${key}`, entry];
        },
        load: (records) => {
          vaults.clear();
          for (const [key, entry] of records) {
            const slash = key.indexOf("/");
            secretsOf(key.slice(0, slash)).set(key.slice(slash + 1), entry as SecretEntry);
          }
        },
      },
    ],
    readSecretVersion,
    readSecretValue: (vaultName, secretName) => {
      const entry = vaults.get(vaultName.toLowerCase())?.get(secretName.toLowerCase());
      return entry && entry.deletedAt === undefined ? entry.versions.at(-1)?.value : undefined;
    },
    inspect: () =>
      Object.fromEntries(
        [...vaults.entries()].map(([vault, secrets]) => [
          vault,
          Object.fromEntries(
            [...secrets.values()].map((entry) => [
              entry.name,
              {
                deleted: entry.deletedAt !== undefined,
                versions: entry.versions.map((v) => ({
                  version: v.version,
                  enabled: v.enabled,
                  contentType: v.contentType ?? null,
                  tags: v.tags ?? {},
                })),
              },
            ]),
          ),
        ]),
      ),
  };
}
