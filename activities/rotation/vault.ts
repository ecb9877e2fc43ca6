/**
 * The slug vault as rotation reads and marks it. A rotation's state lives on the Key Vault
 * version it wrote (tags: which operation, `staged` or `done`, which account key), so a rotation
 * that stopped anywhere is found and finished from the vault alone, whatever Shire's own records
 * kept. Values are read only where an activity must compare or copy them, and never returned.
 */
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import { getOrUndefined } from "../arm";
import { permanent } from "../errors";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ROTATION_TAGS, type RotationState } from "../../src/contract/rotation";
import type { ActivityDeps } from "../deps";

export interface LatestVersion {
  version: string;
  /** When Key Vault wrote it (whole seconds). */
  createdOn: Date;
  tags: Record<string, string>;
  enabled: boolean;
}

export function vaultClient(deps: ActivityDeps, vaultName: string): SecretClient {
  return deps.clients.secrets(keyVaultUrl(deps.context.endpoints, vaultName));
}

function versionOf(properties: SecretProperties): LatestVersion {
  if (!properties.version || !properties.createdOn)
    throw permanent("SecretVersionUnreadable", `Key Vault returned secret ${properties.name} without a version.`);
  return {
    version: properties.version,
    createdOn: properties.createdOn,
    tags: properties.tags ?? {},
    enabled: properties.enabled !== false,
  };
}

/** The secret's latest version (what a versionless reference resolves to), or undefined when there is none. */
export async function latestVersion(client: SecretClient, name: string): Promise<LatestVersion | undefined> {
  const secret = await getOrUndefined(() => client.getSecret(name));
  return secret ? versionOf(secret.properties) : undefined;
}

/** The latest version with its value (for the activities that copy or compare it; keep it in a SecretScope). */
export async function latestWithValue(
  client: SecretClient,
  name: string,
): Promise<(LatestVersion & { value: string | undefined }) | undefined> {
  const secret = await getOrUndefined(() => client.getSecret(name));
  return secret ? { ...versionOf(secret.properties), value: secret.value } : undefined;
}

/** Every version, oldest first (by whole seconds: versions of the same second come in no set order). */
export async function allVersions(client: SecretClient, name: string): Promise<LatestVersion[]> {
  const versions: LatestVersion[] = [];
  for await (const properties of client.listPropertiesOfSecretVersions(name)) versions.push(versionOf(properties));
  return versions.sort((a, b) => a.createdOn.getTime() - b.createdOn.getTime());
}

export function rotationStateOf(version: LatestVersion | undefined): RotationState | undefined {
  const state = version?.tags[ROTATION_TAGS.state];
  return state === "staged" || state === "done" ? state : undefined;
}

/**
 * A rotation this operation may carry on with instead of starting another: one still `staged`
 * (by this operation or an earlier one that stopped), or one this operation finished already (a
 * repeated delivery must not rotate twice).
 */
export function resumable(version: LatestVersion | undefined, operationId: string): boolean {
  if (!version) return false;
  return rotationStateOf(version) === "staged" || version.tags[ROTATION_TAGS.operation] === operationId;
}

/** The tags a rotation's new version carries: the plan's, the kind's, and the rotation's own. */
export function stagedTags(operationId: string, extra: Record<string, string>): Record<string, string> {
  return {
    "managed-by": "shire",
    ...extra,
    [ROTATION_TAGS.operation]: operationId,
    [ROTATION_TAGS.state]: "staged",
  };
}

/** Mark the version `done`: the app runs it and what it replaced is revoked. */
export async function markDone(
  deps: ActivityDeps,
  client: SecretClient,
  name: string,
  version: LatestVersion,
): Promise<boolean> {
  if (rotationStateOf(version) === "done") return false;
  deps.beforeWrite([`${name} rotation done`], true);
  await client.updateSecretProperties(name, version.version, {
    tags: { ...version.tags, [ROTATION_TAGS.state]: "done" },
  });
  return true;
}
