/**
 * Key Vault secrets data plane for @azure/keyvault-secrets: challenge-based authentication as the
 * real service (401 + WWW-Authenticate first), RBAC (or access policies) checked per data action,
 * versions, soft delete with recover and purge. Vault existence comes from the ARM store: a
 * soft-deleted vault's secrets are unreachable until it is recovered, and gone once purged.
 */
import { randomBytes } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { ArmService } from "../arm";
import { roleGrants } from "../arm/providers/authorization";
import { decodeCaller } from "../auth";
import { SANDBOX_DNS_SUFFIX } from "../../azure/endpoints";

const API_VERSIONS = new Set(["7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"]);
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
  expires?: number;
  notBefore?: number;
}

interface SecretEntry {
  versions: SecretVersion[];
  deletedAt?: number;
}

export interface KeyVaultService extends SandboxServiceModule {
  /** For tests: a secret's current value, straight from the store. */
  readSecretValue(vaultName: string, secretName: string): string | undefined;
}

type Action = "getSecret/action" | "setSecret/action" | "readMetadata/action" | "delete" | "recover/action" | "purge/action" | "backup/action";
const POLICY_PERMISSION: Record<Action, string> = {
  "getSecret/action": "get",
  "setSecret/action": "set",
  "readMetadata/action": "list",
  delete: "delete",
  "recover/action": "recover",
  "purge/action": "purge",
  "backup/action": "backup",
};

export function createKeyVaultService(env: SandboxEnvironment, arm: ArmService): KeyVaultService {
  const vaults = new Map<string, Map<string, SecretEntry>>();
  arm.onVaultPurged.push((name) => vaults.delete(name.toLowerCase()));

  const secretsOf = (vaultName: string) => {
    let secrets = vaults.get(vaultName);
    if (!secrets) vaults.set(vaultName, (secrets = new Map()));
    return secrets;
  };

  /** Authenticate, find the vault, authorize the data action; returns the vault's secrets. */
  function authorize(request: SandboxRequest, action: Action): { vaultName: string; secrets: Map<string, SecretEntry>; vaultBase: string } {
    const apiVersion = request.query.get("api-version");
    if (!apiVersion || !API_VERSIONS.has(apiVersion)) {
      throw new SandboxHttpError(400, "BadParameter", `The specified version (${apiVersion ?? "none"}) is not recognized. Consider using the latest supported version (2026-04-01).`);
    }
    const caller = decodeCaller(request);
    if (!caller) {
      throw new SandboxHttpError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", {
        "www-authenticate": `Bearer authorization="https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/${env.tenantId}", resource="https://vault.${SANDBOX_DNS_SUFFIX}"`,
      });
    }
    const vaultName = request.host.split(".")[0];
    const vault = arm.store.findVault(vaultName);
    if (!vault || vault.softDeleted) throw new SandboxHttpError(404, "VaultNotFound", `Vault '${vaultName}' does not exist (in Azure its DNS name would not resolve).`);
    const fullAction = `Microsoft.KeyVault/vaults/secrets/${action}`;
    const allowed = vault.properties.enableRbacAuthorization === true
      ? arm.store.roleAssignmentsFor(caller.oid, vault.id).some((assignment) => roleGrants(assignment.roleDefinitionId, fullAction))
      : ((vault.properties.accessPolicies as { objectId?: string; permissions?: { secrets?: string[] } }[] | undefined) ?? []).some(
          (policy) => policy.objectId?.toLowerCase() === caller.oid && (policy.permissions?.secrets ?? []).map((p) => p.toLowerCase()).some((p) => p === "all" || p === POLICY_PERMISSION[action]),
        );
    if (!allowed) {
      const mode = vault.properties.enableRbacAuthorization === true ? "ForbiddenByRbac" : "AccessDenied";
      throw new SandboxHttpError(403, "Forbidden", `Caller is not authorized to perform action on resource. If role assignments, deny assignments or role definitions were changed recently, please observe propagation time. Caller: oid=${caller.oid}; Action: '${fullAction}'; Resource: '${vault.id.toLowerCase()}'.`, {}, { code: mode });
    }
    return { vaultName: vaultName.toLowerCase(), secrets: secretsOf(vaultName.toLowerCase()), vaultBase: request.baseUrl };
  }

  const bundle = (base: string, name: string, version: SecretVersion, withValue: boolean) => ({
    ...(withValue ? { value: version.value } : {}),
    id: `${base}/secrets/${name}/${version.version}`,
    ...(version.contentType ? { contentType: version.contentType } : {}),
    attributes: {
      enabled: version.enabled,
      created: Math.floor(version.created / 1000),
      updated: Math.floor(version.updated / 1000),
      ...(version.expires ? { exp: version.expires } : {}),
      ...(version.notBefore ? { nbf: version.notBefore } : {}),
      recoveryLevel: "Recoverable+Purgeable",
      recoverableDays: 90,
    },
    tags: version.tags ?? {},
  });

  const deletedBundle = (base: string, name: string, entry: SecretEntry) => ({
    ...bundle(base, name, entry.versions.at(-1)!, false),
    recoveryId: `${base}/deletedsecrets/${name}`,
    deletedDate: Math.floor((entry.deletedAt ?? 0) / 1000),
    scheduledPurgeDate: Math.floor(((entry.deletedAt ?? 0) + 90 * 86_400_000) / 1000),
  });

  const notFound = (name: string, version?: string) =>
    new SandboxHttpError(404, "SecretNotFound", version ? `A secret with (name/id) ${name}/${version} was not found in this key vault.` : `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`);

  function live(secrets: Map<string, SecretEntry>, name: string): SecretEntry {
    const entry = secrets.get(name.toLowerCase());
    if (!entry || entry.deletedAt !== undefined) throw notFound(name);
    return entry;
  }

  const setSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "setSecret/action");
    const name = request.params.name;
    if (!NAME.test(name)) throw new SandboxHttpError(400, "BadParameter", "The request URI contains an invalid name: secret names are 1-127 characters of letters, digits and dashes.");
    const body = (request.body ?? {}) as { value?: unknown; contentType?: string; tags?: Record<string, string>; attributes?: { enabled?: boolean; exp?: number; nbf?: number } };
    if (typeof body.value !== "string") throw new SandboxHttpError(400, "BadParameter", "Property 'value' is required.");
    const existing = secrets.get(name.toLowerCase());
    if (existing?.deletedAt !== undefined) throw new SandboxHttpError(409, "Conflict", `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`);
    env.secrets.remember(body.value);
    const now = env.clock.now();
    const version: SecretVersion = { version: randomBytes(16).toString("hex"), value: body.value, contentType: body.contentType, tags: body.tags, enabled: body.attributes?.enabled ?? true, created: now, updated: now, expires: body.attributes?.exp, notBefore: body.attributes?.nbf };
    const entry = existing ?? { versions: [] };
    entry.versions.push(version);
    secrets.set(name.toLowerCase(), entry);
    return { status: 200, body: bundle(vaultBase, name, version, true) };
  };

  const getSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "getSecret/action");
    const entry = live(secrets, request.params.name);
    const wanted = request.params.version;
    const version = wanted ? entry.versions.find((v) => v.version === wanted) : entry.versions.at(-1);
    if (!version) throw notFound(request.params.name, wanted);
    if (!version.enabled) throw new SandboxHttpError(403, "Forbidden", `Operation get is not allowed on a disabled secret.`, {}, { code: "SecretDisabled" });
    return { status: 200, body: bundle(vaultBase, request.params.name, version, true) };
  };

  const listSecrets = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "readMetadata/action");
    const value = [...secrets.entries()].filter(([, entry]) => entry.deletedAt === undefined).map(([name, entry]) => {
      const { id, attributes, contentType, tags } = bundle(vaultBase, name, entry.versions.at(-1)!, false);
      return { id: id.split("/").slice(0, -1).join("/"), attributes, contentType, tags };
    });
    return { status: 200, body: { value, nextLink: null } };
  };

  const listVersions = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "readMetadata/action");
    const entry = live(secrets, request.params.name);
    return { status: 200, body: { value: entry.versions.map((version) => bundle(vaultBase, request.params.name, version, false)), nextLink: null } };
  };

  const updateSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "setSecret/action");
    const entry = live(secrets, request.params.name);
    const version = entry.versions.find((v) => v.version === request.params.version) ?? (request.params.version ? undefined : entry.versions.at(-1));
    if (!version) throw notFound(request.params.name, request.params.version);
    const body = (request.body ?? {}) as { contentType?: string; tags?: Record<string, string>; attributes?: { enabled?: boolean; exp?: number; nbf?: number } };
    if (body.contentType !== undefined) version.contentType = body.contentType;
    if (body.tags !== undefined) version.tags = body.tags;
    if (body.attributes?.enabled !== undefined) version.enabled = body.attributes.enabled;
    if (body.attributes?.exp !== undefined) version.expires = body.attributes.exp;
    version.updated = env.clock.now();
    return { status: 200, body: bundle(vaultBase, request.params.name, version, false) };
  };

  const deleteSecret = (request: SandboxRequest): SandboxResponse => {
    const { secrets, vaultBase } = authorize(request, "delete");
    const entry = live(secrets, request.params.name);
    entry.deletedAt = env.clock.now();
    return { status: 200, body: deletedBundle(vaultBase, request.params.name, entry) };
  };

  const deletedOnly = (secrets: Map<string, SecretEntry>, name: string) => {
    const entry = secrets.get(name.toLowerCase());
    if (!entry || entry.deletedAt === undefined) throw new SandboxHttpError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
    return entry;
  };

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
        const { secrets, vaultBase } = authorize(request, "readMetadata/action");
        return { status: 200, body: { value: [...secrets.entries()].filter(([, entry]) => entry.deletedAt !== undefined).map(([name, entry]) => deletedBundle(vaultBase, name, entry)), nextLink: null } };
      },
    },
    {
      service: "keyvault",
      method: "GET",
      pattern: "/deletedsecrets/:name",
      handler: (request) => {
        const { secrets, vaultBase } = authorize(request, "readMetadata/action");
        return { status: 200, body: deletedBundle(vaultBase, request.params.name, deletedOnly(secrets, request.params.name)) };
      },
    },
    {
      service: "keyvault",
      method: "DELETE",
      pattern: "/deletedsecrets/:name",
      handler: (request) => {
        const { secrets } = authorize(request, "purge/action");
        deletedOnly(secrets, request.params.name);
        secrets.delete(request.params.name.toLowerCase());
        return { status: 204 };
      },
    },
    {
      service: "keyvault",
      method: "POST",
      pattern: "/deletedsecrets/:name/recover",
      handler: (request) => {
        const { secrets, vaultBase } = authorize(request, "recover/action");
        const entry = deletedOnly(secrets, request.params.name);
        entry.deletedAt = undefined;
        return { status: 200, body: bundle(vaultBase, request.params.name, entry.versions.at(-1)!, false) };
      },
    },
  ];

  return {
    name: "keyvault",
    routes,
    readSecretValue: (vaultName, secretName) => {
      const entry = vaults.get(vaultName.toLowerCase())?.get(secretName.toLowerCase());
      return entry && entry.deletedAt === undefined ? entry.versions.at(-1)?.value : undefined;
    },
    inspect: () =>
      Object.fromEntries(
        [...vaults.entries()].map(([vault, secrets]) => [
          vault,
          Object.fromEntries([...secrets.entries()].map(([name, entry]) => [name, { deleted: entry.deletedAt !== undefined, versions: entry.versions.map((v) => ({ version: v.version, enabled: v.enabled, contentType: v.contentType ?? null, tags: v.tags ?? {} })) }])),
        ]),
      ),
  };
}
