/**
 * Rotation, phase 1: the new credential exists and the vault holds it as the secret's latest
 * version, tagged `staged`. Nothing that works stops working: the old credential stays valid
 * until the revoke phase, and the running app keeps what it loaded until it is restarted.
 *
 * - generated: a new random value;
 * - clientSecret: addPassword, then the vault (a password that never reached the vault, from a
 *   delivery that died in between, is removed: nobody ever had it);
 * - storageKey: the environment storage moved to the account's other key, then the vault copy
 *   (ARM never shows the environment storage's key, so it is always written);
 * - foundryKey: the vault moved to the account's other key;
 * - supplied: the operator's version (written by `PUT /api/slugs/{slug}/secrets/{name}`) tagged.
 *
 * Safe to run again: a version already `staged` (by this operation or an earlier one that
 * stopped) is carried on with, not replaced, so a resumed rotation never rotates twice and
 * never loses the credential it staged.
 */
import { randomBytes } from "node:crypto";
import type { SecretClient } from "@azure/keyvault-secrets";
import type { SecretScope } from "../define";
import type { ActivityDeps } from "../deps";
import { permanent } from "../errors";
import { accountKeys, parseAccountId, type AccountKeys } from "./accounts";
import {
  allVersions,
  latestVersion,
  latestWithValue,
  resumable,
  rotationStateOf,
  stagedTags,
  vaultClient,
} from "./vault";
import type { ActivityInput, ActivityResult } from "../../src/contract/activity";
import {
  KEY_SOURCE_TAG,
  ROTATION_TAGS,
  keyOfSource,
  keySource,
  otherKey,
  type AccountKeyName,
  type RotationSecret,
} from "../../src/contract/rotation";

export type StageOutputs = "secretName" | "version" | "resumed";

export function createStageActivity(deps: ActivityDeps) {
  return async (
    { nodeId, operationId, desired }: ActivityInput<RotationSecret>,
    secrets: SecretScope,
  ): Promise<ActivityResult<StageOutputs>> => {
    const client = vaultClient(deps, desired.vaultName);
    const staged = await stage(client, desired, operationId, secrets);
    return {
      nodeId,
      action: staged.resumed ? "unchanged" : "updated",
      changed: staged.resumed ? [] : ["value"],
      outputs: { secretName: desired.secretName, version: staged.version, resumed: staged.resumed },
      ...(staged.note ? { notes: [staged.note] } : {}),
    };
  };

  async function stage(
    client: SecretClient,
    desired: RotationSecret,
    operationId: string,
    secrets: SecretScope,
  ): Promise<{ version: string; resumed: boolean; note?: string }> {
    const name = desired.secretName;
    const latest = await latestVersion(client, name);
    const resumedFrom = (version: { version: string; tags: Record<string, string> }) => {
      const by = version.tags[ROTATION_TAGS.operation];
      return {
        version: version.version,
        resumed: true,
        ...(by && by !== operationId ? { note: `Carried on with the rotation ${by} staged.` } : {}),
      };
    };
    const write = async (value: string, tags: Record<string, string>) => {
      deps.beforeWrite(["value"], Boolean(latest));
      const written = await client.setSecret(name, value, { tags: stagedTags(operationId, tags) });
      return { version: written.properties.version!, resumed: false };
    };

    switch (desired.kind) {
      case "generated": {
        if (latest && resumable(latest, operationId)) return resumedFrom(latest);
        return write(secrets.add(randomBytes(desired.bytes).toString("base64url")), {});
      }

      case "clientSecret": {
        const graph = deps.graph();
        const passwords = await shirePasswords(desired.applicationObjectId, desired.displayName);
        const stagedKeyId = latest?.tags.keyId?.toLowerCase();
        if (latest && resumable(latest, operationId) && passwords.some((password) => password.keyId === stagedKeyId))
          return resumedFrom(latest);
        deps.beforeWrite(["passwordCredentials (new client secret)", "value"], Boolean(latest));
        const endDateTime = new Date(Date.now() + desired.validityDays * 86_400_000).toISOString();
        const added = (await graph.api(`/applications/${desired.applicationObjectId}/addPassword`).post({
          passwordCredential: { displayName: desired.displayName, endDateTime },
        })) as { keyId?: string; secretText?: string };
        const value = secrets.add(added.secretText);
        if (!value || !added.keyId)
          throw permanent(
            "ClientSecretUnavailable",
            "Microsoft Graph returned no secret text for the new client secret.",
          );
        const written = await write(value, { keyId: added.keyId });
        // Passwords that never reached the vault (a delivery that died between addPassword and the
        // vault): nobody ever had them, so they go now; the ones the vault held wait for revoke.
        const stored = new Set(
          (await allVersions(client, name)).map((version) => version.tags.keyId?.toLowerCase()).filter(Boolean),
        );
        for (const password of passwords)
          if (!stored.has(password.keyId))
            await graph
              .api(`/applications/${desired.applicationObjectId}/removePassword`)
              .post({ keyId: password.keyId });
        return written;
      }

      case "storageKey": {
        const keys = await accountKeys(deps, { storage: desired }, secrets);
        const holding = latest && (await heldKey(client, name, keys, secrets));
        let target: AccountKeyName;
        let resumed: { version: string; resumed: boolean; note?: string } | undefined;
        if (
          latest &&
          holding &&
          resumable(latest, operationId) &&
          holding === keyOfSource(latest.tags[KEY_SOURCE_TAG])
        ) {
          target = holding;
          resumed = resumedFrom(latest);
        } else {
          target = otherKey(holding ?? "key1");
        }
        // Environment storage first: the vault copy then says what it mounts. ARM never returns
        // the key, so whether it already has it cannot be read: it is written each time.
        const storage = desired.environmentStorage;
        deps.beforeWrite(["environment storage account key"], true);
        await deps.clients.containerApps.managedEnvironmentsStorages.createOrUpdate(
          storage.resourceGroup,
          storage.environmentName,
          storage.name,
          {
            properties: {
              azureFile: {
                accountName: storage.storageAccountName,
                shareName: storage.shareName,
                accessMode: storage.accessMode,
                accountKey: keys[target],
              },
            },
          },
        );
        if (resumed) return resumed;
        return write(keys[target], {
          [KEY_SOURCE_TAG]: keySource(desired.accountName, target),
          [ROTATION_TAGS.previousKey]: otherKey(target),
        });
      }

      case "foundryKey": {
        const account = parseAccountId(desired.accountResourceId);
        const keys = await accountKeys(deps, { cognitive: desired }, secrets);
        const holding = latest && (await heldKey(client, name, keys, secrets));
        if (latest && holding && resumable(latest, operationId) && holding === keyOfSource(latest.tags[KEY_SOURCE_TAG]))
          return resumedFrom(latest);
        const target = otherKey(holding ?? "key1");
        return write(keys[target], {
          [KEY_SOURCE_TAG]: keySource(account.name, target),
          [ROTATION_TAGS.previousKey]: otherKey(target),
        });
      }

      case "supplied": {
        if (!latest)
          throw permanent(
            "SecretNotSupplied",
            `Secret '${name}' is not in vault ${desired.vaultName}: write it with PUT /api/slugs/{slug}/secrets/${name}.`,
          );
        if (desired.version && desired.version !== latest.version) {
          const known = (await allVersions(client, name)).some((version) => version.version === desired.version);
          if (!known)
            throw permanent(
              "SecretVersionNotFound",
              `Secret '${name}' has no version ${desired.version} in vault ${desired.vaultName}.`,
            );
        }
        const note =
          desired.version && desired.version !== latest.version
            ? `A newer version (${latest.version}) was written after ${desired.version}: the app is restarted onto the newer one.`
            : undefined;
        if (rotationStateOf(latest) !== "staged" && latest.tags[ROTATION_TAGS.operation] !== operationId) {
          deps.beforeWrite([`${name} rotation staged`], true);
          await client.updateSecretProperties(name, latest.version, {
            tags: { ...latest.tags, [ROTATION_TAGS.operation]: operationId, [ROTATION_TAGS.state]: "staged" },
          });
          return { version: latest.version, resumed: false, ...(note ? { note } : {}) };
        }
        return { version: latest.version, resumed: true, ...(note ? { note } : {}) };
      }
    }
  }

  /** The app's passwords Shire made (its display name), keyIds lowercased. */
  async function shirePasswords(applicationObjectId: string, displayName: string): Promise<{ keyId: string }[]> {
    const application = (await deps
      .graph()
      .api(`/applications/${applicationObjectId}`)
      .select("id,passwordCredentials")
      .get()) as { passwordCredentials?: { keyId?: string; displayName?: string }[] };
    return (application.passwordCredentials ?? [])
      .filter((credential) => credential.displayName === displayName && credential.keyId)
      .map((credential) => ({ keyId: credential.keyId!.toLowerCase() }));
  }
}

/** Which of the account's keys the vault's copy is (none: a key regenerated outside Shire, or a new vault). */
export async function heldKey(
  client: SecretClient,
  name: string,
  keys: AccountKeys,
  secrets: SecretScope,
): Promise<AccountKeyName | undefined> {
  const value = secrets.add((await latestWithValue(client, name))?.value);
  if (value === undefined) return undefined;
  return value === keys.key1 ? "key1" : value === keys.key2 ? "key2" : undefined;
}
