/**
 * Secrets in the slug's vault. Each is generated or read here and written straight to Key Vault;
 * only the secret's name and version leave the activity (DESIGN.md principle 3).
 *
 * Sources:
 * - `random`: generated once (e.g. the gateway token); kept on re-runs.
 * - `storageAccountKey`: a copy of one of the account's keys: key1 at first; either is kept (a
 *   rotation alternates them, activities/rotation/); rewritten when it is neither.
 * - `cognitiveServicesKey`: the Foundry account's key, likewise.
 * - `entraClientSecret`: a password on an app registration; a new one is added when the vault's
 *   copy is missing, names a password the app no longer has, or expires within 30 days. Older
 *   passwords Shire made (an orphan from a run that crashed between addPassword and setSecret,
 *   or the one a renewal replaced) are removed once the vault holds the live one.
 * - `external`: a token the operator writes to the vault (Telegram); the step fails with
 *   instructions until it is there, and a re-run continues from that step.
 *
 * A secret that was deleted (soft delete) is recovered rather than failing on Key Vault's
 * "deleted but recoverable" conflict: its versions come back, and the source decides as usual.
 * Removing a secret deletes it (soft delete; purged on request) and, for a client secret, first
 * removes from the app every password Shire ever stored in it, so no credential outlives its copy.
 */
import { randomBytes } from "node:crypto";
import { defineKind, type SecretScope } from "../define";
import { getOrUndefined, isNotFound, removalResult } from "../arm";
import { permanent } from "../errors";
import { keyVaultUrl } from "../../src/azure/endpoints";
import type { ActivityDeps } from "../deps";
import type { SecretDesired, SecretSource } from "../../src/contract/resources";
import { KEY_SOURCE_TAG, keyOfSource, keySource } from "../../src/contract/rotation";
import type { ActivityResult } from "../../src/contract/activity";

/** A client secret this close to its end date is replaced on the next converge. */
const RENEW_BEFORE_EXPIRY_MS = 30 * 24 * 60 * 60 * 1000;
/** How long a replaced client secret is kept after the vault got the new one. */
const PREVIOUS_PASSWORD_GRACE_MS = 60 * 60 * 1000;

interface NextValue {
  value: string;
  tags?: Record<string, string>;
  afterWrite?: () => Promise<void>;
}

interface ExistingSecret {
  value?: string;
  version?: string;
  tags: Record<string, string>;
  createdOn?: Date;
  /** Every `keyId` tag the secret's versions carry: the client secrets that ever were in the vault. */
  storedKeyIds(): Promise<Set<string>>;
}

function createSecretActivities(deps: ActivityDeps) {
  const ensureSecret = async (
    { nodeId, desired }: { nodeId: string; desired: SecretDesired },
    secrets: SecretScope,
  ): Promise<ActivityResult<"secretName" | "version">> => {
    const client = deps.clients.secrets(keyVaultUrl(deps.context.endpoints, desired.vaultName));
    const existing = await readExisting(desired.secretName, secrets);
    const next = await desiredValue(desired, existing, secrets);
    if (!next) {
      return {
        nodeId,
        action: "unchanged" as const,
        changed: [],
        outputs: { secretName: desired.secretName, version: existing?.version ?? null },
      };
    }
    deps.beforeWrite(existing ? ["value"] : [], Boolean(existing));
    const written = await client.setSecret(desired.secretName, next.value, {
      contentType: desired.contentType,
      tags: { ...(desired.tags ?? {}), ...next.tags },
    });
    await next.afterWrite?.();
    return {
      nodeId,
      action: existing ? ("updated" as const) : ("created" as const),
      resourceId: written.properties.id,
      changed: existing ? ["value"] : [],
      outputs: { secretName: desired.secretName, version: written.properties.version ?? null },
    };

    async function readExisting(name: string, scope: SecretScope): Promise<ExistingSecret | undefined> {
      let secret = await getOrUndefined(() => client.getSecret(name));
      if (!secret && (await getOrUndefined(() => client.getDeletedSecret(name)))) {
        deps.beforeWrite(["recover deleted secret"], true);
        await (await client.beginRecoverDeletedSecret(name, { intervalInMs: 1_000 })).pollUntilDone();
        secret = await client.getSecret(name);
      }
      if (!secret) return undefined;
      return {
        value: scope.add(secret.value),
        version: secret.properties.version,
        tags: secret.properties.tags ?? {},
        createdOn: secret.properties.createdOn,
        storedKeyIds: async () => {
          const keyIds = new Set<string>();
          for await (const version of client.listPropertiesOfSecretVersions(name))
            if (version.tags?.keyId) keyIds.add(version.tags.keyId.toLowerCase());
          return keyIds;
        },
      };
    }
  };

  /** The value to write, or undefined when the vault already holds the right one. */
  async function desiredValue(
    desired: SecretDesired,
    existing: ExistingSecret | undefined,
    secrets: SecretScope,
  ): Promise<NextValue | undefined> {
    const source = desired.source;
    switch (source.type) {
      case "random": {
        if (existing?.value) return undefined;
        return { value: secrets.add(randomBytes(source.bytes).toString("base64url")) };
      }
      case "storageAccountKey": {
        const listed = await deps.clients.storage.storageAccounts.listKeys(source.resourceGroup, source.accountName);
        const keys = {
          key1: secrets.add(listed.keys?.find((key) => key.keyName === "key1")?.value),
          key2: secrets.add(listed.keys?.find((key) => key.keyName === "key2")?.value),
        };
        return accountKeyCopy(source.accountName, keys, source.keyName, existing);
      }
      case "cognitiveServicesKey": {
        const { resourceGroup, name } = parseResourceId(source.accountResourceId);
        const listed = await deps.clients.cognitiveServices.accounts.listKeys(resourceGroup, name);
        return accountKeyCopy(
          name,
          { key1: secrets.add(listed.key1), key2: secrets.add(listed.key2) },
          "key1",
          existing,
        );
      }
      case "entraClientSecret":
        return entraClientSecret(source, existing, secrets);
      case "external":
        if (existing?.value) return undefined;
        throw permanent(
          "SecretNotSupplied",
          `Secret '${desired.secretName}' is supplied by the operator and is not in vault ${desired.vaultName} yet: write it there (e.g. az keyvault secret set --vault-name ${desired.vaultName} --name ${desired.secretName} --file <token-file>) and run the install again.`,
        );
    }
  }

  async function entraClientSecret(
    source: Extract<SecretSource, { type: "entraClientSecret" }>,
    existing: ExistingSecret | undefined,
    secrets: SecretScope,
  ): Promise<NextValue | undefined> {
    const graph = deps.graph();
    const application = (await graph
      .api(`/applications/${source.applicationObjectId}`)
      .select("id,passwordCredentials")
      .get()) as {
      passwordCredentials?: { keyId?: string; displayName?: string; endDateTime?: string }[];
    };
    const credentials = (application.passwordCredentials ?? []).filter(
      (credential) => credential.displayName === source.displayName && credential.keyId,
    );
    /**
     * Passwords Shire made that can go, given the live one: orphans that never reached the vault,
     * always; ones the vault held before, only once the live one has been there long enough for
     * the app to pick it up (versionless Key Vault references refresh within 30 minutes).
     */
    const removable = async (liveKeyId: string, liveSince: Date | undefined) => {
      const stored = existing ? await existing.storedKeyIds() : new Set<string>();
      const settled = liveSince !== undefined && Date.now() - liveSince.getTime() > PREVIOUS_PASSWORD_GRACE_MS;
      return credentials.filter((credential) => {
        const keyId = credential.keyId!.toLowerCase();
        return keyId !== liveKeyId.toLowerCase() && (!stored.has(keyId) || settled);
      });
    };
    const remove = async (doomed: typeof credentials) => {
      for (const credential of doomed)
        await graph.api(`/applications/${source.applicationObjectId}/removePassword`).post({ keyId: credential.keyId });
    };
    const storedKeyId = existing?.tags.keyId?.toLowerCase();
    const live = storedKeyId
      ? credentials.find((credential) => credential.keyId?.toLowerCase() === storedKeyId)
      : undefined;
    const expiresAt = live?.endDateTime ? Date.parse(live.endDateTime) : Number.POSITIVE_INFINITY;
    if (existing?.value && live && expiresAt - Date.now() > RENEW_BEFORE_EXPIRY_MS) {
      // The vault holds a live password: only leftovers may need removing.
      const leftovers = await removable(storedKeyId!, existing.createdOn);
      if (leftovers.length === 0) return undefined;
      deps.beforeWrite(["passwordCredentials (remove leftovers)"], true);
      await remove(leftovers);
      return undefined;
    }
    deps.beforeWrite(
      existing ? [live ? "value (client secret expires soon)" : "value (new client secret)"] : [],
      Boolean(existing),
    );
    const endDateTime = new Date(Date.now() + source.validityDays * 24 * 60 * 60 * 1000).toISOString();
    const password = (await graph.api(`/applications/${source.applicationObjectId}/addPassword`).post({
      passwordCredential: { displayName: source.displayName, endDateTime },
    })) as { keyId?: string; secretText?: string };
    const value = secrets.add(password.secretText);
    if (!value || !password.keyId)
      throw permanent("ClientSecretUnavailable", "Microsoft Graph returned no secret text for the new client secret.");
    const keepKeyId = password.keyId;
    // Once the vault holds the new password, orphans go; the one it replaces stays for a while.
    return {
      value,
      tags: { keyId: keepKeyId },
      afterWrite: async () => remove(await removable(keepKeyId, new Date())),
    };
  }

  /** Delete the secret; a client secret's passwords on its app go first (the vault's copy names them). */
  const removeSecret = async ({
    nodeId,
    desired,
    purge,
  }: {
    nodeId: string;
    desired: SecretDesired;
    purge?: boolean;
  }): Promise<ActivityResult<never>> => {
    const client = deps.clients.secrets(keyVaultUrl(deps.context.endpoints, desired.vaultName));
    const live = await getOrUndefined(() => client.getSecret(desired.secretName));
    // A soft-deleted secret is removed already, unless purge asks for its deleted copy too.
    const deleted =
      live || !purge ? undefined : await getOrUndefined(() => client.getDeletedSecret(desired.secretName));
    if (!live && !deleted) return removalResult(nodeId, undefined);
    deps.beforeWrite(["."], true, true);
    if (desired.source.type === "entraClientSecret" && desired.source.applicationObjectId && live) {
      const keyIds = new Set<string>();
      for await (const version of client.listPropertiesOfSecretVersions(desired.secretName))
        if (version.tags?.keyId) keyIds.add(version.tags.keyId.toLowerCase());
      await removePasswords(desired.source.applicationObjectId, desired.source.displayName, keyIds);
    }
    if (live) {
      try {
        await (await client.beginDeleteSecret(desired.secretName, { intervalInMs: 1_000 })).pollUntilDone();
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    if (purge) {
      try {
        await client.purgeDeletedSecret(desired.secretName);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return removalResult(nodeId, (live ?? deleted)?.properties.id ?? nodeId);
  };

  /** Remove the app's passwords Shire stored (by keyId); an app that is gone has none left. */
  async function removePasswords(applicationObjectId: string, displayName: string, keyIds: Set<string>): Promise<void> {
    const graph = deps.graph();
    let application: { passwordCredentials?: { keyId?: string; displayName?: string }[] };
    try {
      application = await graph.api(`/applications/${applicationObjectId}`).select("id,passwordCredentials").get();
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    for (const credential of application.passwordCredentials ?? []) {
      if (credential.displayName !== displayName || !credential.keyId || !keyIds.has(credential.keyId.toLowerCase()))
        continue;
      await graph.api(`/applications/${applicationObjectId}/removePassword`).post({ keyId: credential.keyId });
    }
  }

  return { ensureSecret, removeSecret };
}

/**
 * A copy of one of an account's two keys: either is right (rotation alternates them, and an
 * install must not move the copy back). Rewritten only when it is neither (a new vault, a key
 * regenerated outside Shire): with the key the copy last named, else `initial`.
 */
function accountKeyCopy(
  account: string,
  keys: { key1?: string; key2?: string },
  initial: "key1" | "key2",
  existing: ExistingSecret | undefined,
): NextValue | undefined {
  if (existing?.value && (existing.value === keys.key1 || existing.value === keys.key2)) return undefined;
  const named = keyOfSource(existing?.tags[KEY_SOURCE_TAG]) ?? initial;
  const value = keys[named];
  if (!value) throw permanent("AccountKeyUnavailable", `Account ${account} returned no ${named}.`);
  return { value, tags: { [KEY_SOURCE_TAG]: keySource(account, named) } };
}

function parseResourceId(id: string): { resourceGroup: string; name: string } {
  const match = /\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(id);
  if (!match) throw permanent("InvalidResourceId", `Not a resource id: ${id}`);
  return { resourceGroup: match[1], name: match[2] };
}

export const secretKind = defineKind({
  kind: "secret",
  summary:
    "A Key Vault secret the broker writes itself (generated token, storage key copy, Entra client secret, Foundry key) or checks (operator-supplied).",
  api: "Key Vault data plane (+ Graph addPassword/removePassword, storage/Cognitive Services listKeys)",
  // In the slug's vault: gone with it.
  teardown: () => "cascade",
  activities: (deps) => {
    const { ensureSecret, removeSecret } = createSecretActivities(deps);
    return { ensure: ensureSecret, remove: removeSecret };
  },
});
