/**
 * Key Vault secret shapes as the REST API returns them (SecretBundle, DeletedSecretBundle,
 * SecretListResult pages), and what a vault's ARM properties mean for them: the recovery level
 * and how long a deleted secret is kept.
 */
import { SandboxHttpError, type SandboxRequest } from "../types";

export interface SecretVersion {
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

/** Key Vault's limit on a secret's value (25 KB), whichever plane writes it. */
const MAX_SECRET_VALUE_BYTES = 25 * 1024;

/** Why a value is refused for its size, or undefined when it fits. */
export function oversizedValue(value: string): string | undefined {
  const bytes = Buffer.byteLength(value);
  return bytes > MAX_SECRET_VALUE_BYTES
    ? `The secret value is ${bytes} bytes; the maximum is ${MAX_SECRET_VALUE_BYTES}.`
    : undefined;
}

/** What a new version is written with: the data plane's set and ARM's PUT both give it. */
export interface NewSecretVersion {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes?: { enabled?: boolean; exp?: number; nbf?: number };
}

export interface SecretEntry {
  /** The name as first created (Key Vault names are case-insensitive but keep their casing). */
  name: string;
  versions: SecretVersion[];
  deletedAt?: number;
}

/** What the data plane needs of the vault (from the ARM store). */
export interface VaultView {
  id: string;
  name: string;
  location: string;
  properties: Record<string, unknown>;
}

/**
 * The recovery level a vault gives its secrets: soft delete is always on; purge protection takes
 * away "Purgeable"; a retention under 90 days is "Customized" (DeletionRecoveryLevel in the spec).
 */
export function recovery(vault: VaultView): { level: string; days: number } {
  const days = Number(vault.properties.softDeleteRetentionInDays ?? 90);
  const protectedFromPurge = vault.properties.enablePurgeProtection === true;
  const base = days < 90 ? "CustomizedRecoverable" : "Recoverable";
  return { level: protectedFromPurge ? base : `${base}+Purgeable`, days };
}

export function secretBundle(base: string, vault: VaultView, name: string, version: SecretVersion, withValue: boolean) {
  const { level, days } = recovery(vault);
  return {
    ...(withValue ? { value: version.value } : {}),
    id: `${base}/secrets/${name}/${version.version}`,
    ...(version.contentType ? { contentType: version.contentType } : {}),
    attributes: {
      enabled: version.enabled,
      created: Math.floor(version.created / 1000),
      updated: Math.floor(version.updated / 1000),
      ...(version.expires ? { exp: version.expires } : {}),
      ...(version.notBefore ? { nbf: version.notBefore } : {}),
      recoveryLevel: level,
      recoverableDays: days,
    },
    tags: version.tags ?? {},
  };
}

export function deletedBundle(base: string, vault: VaultView, entry: SecretEntry) {
  const deletedAt = entry.deletedAt ?? 0;
  return {
    ...secretBundle(base, vault, entry.name, entry.versions.at(-1)!, false),
    recoveryId: `${base}/deletedsecrets/${entry.name}`,
    deletedDate: Math.floor(deletedAt / 1000),
    scheduledPurgeDate: Math.floor((deletedAt + recovery(vault).days * 86_400_000) / 1000),
  };
}

/** Key Vault pages lists: `maxresults` 1..25 (default 25), `nextLink` absolute with its api-version. */
export function pageOf<T>(items: T[], request: SandboxRequest, path: string): { value: T[]; nextLink: string | null } {
  const raw = request.query.get("maxresults");
  const max = raw === null ? 25 : Number(raw);
  if (!Number.isInteger(max) || max < 1 || max > 25)
    throw new SandboxHttpError(
      400,
      "BadParameter",
      `Invalid value '${raw}' for maxresults: it must be an integer between 1 and 25.`,
    );
  const token = request.query.get("$skiptoken");
  let skip = 0;
  if (token) {
    try {
      skip = Number(
        (JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { NextMarker?: unknown }).NextMarker,
      );
    } catch {
      skip = Number.NaN;
    }
    if (!Number.isInteger(skip) || skip < 0)
      throw new SandboxHttpError(400, "BadParameter", "The $skiptoken is not valid.");
  }
  const value = items.slice(skip, skip + max);
  const next = skip + max;
  const nextLink =
    next < items.length
      ? `${request.baseUrl}${path}?api-version=${encodeURIComponent(request.query.get("api-version") ?? "")}&$skiptoken=${Buffer.from(JSON.stringify({ NextMarker: next, TargetLocation: 0 })).toString("base64url")}&maxresults=${max}`
      : null;
  return { value, nextLink };
}
