/**
 * Rotation, phase 3: what the staged version replaced is revoked, then the version is marked
 * `done`. Only once the app provably runs the new version (every replica started after it was
 * written and is ready: app-state.ts); otherwise nothing is revoked and the phase fails.
 *
 * - generated, supplied: nothing to revoke beyond the restart (the gateway accepts only what it
 *   loaded; a Telegram token is revoked at Telegram by its owner);
 * - clientSecret: every other password Shire made on the app is removed (removePassword);
 * - storageKey, foundryKey: the key the vault copy moved away from is regenerated.
 *
 * Safe to run again: a version already `done` has nothing left to revoke (a client secret's
 * leftovers are still swept); regenerating a key nobody uses twice, or removing a password
 * that is gone, ends the same.
 */
import type { SecretScope } from "../define";
import type { ActivityDeps } from "../deps";
import { isNotFound } from "../arm";
import { permanent } from "../errors";
import { appReplicas, notRunning } from "./app-state";
import { accountKeys, describeAccount, regenerateKey, type KeyedAccount } from "./accounts";
import { heldKey } from "./stage";
import { latestVersion, markDone, rotationStateOf, vaultClient } from "./vault";
import type { ActivityInput, ActivityResult } from "../../src/contract/activity";
import { KEY_SOURCE_TAG, ROTATION_TAGS, keyOfSource, type RevokeDesired } from "../../src/contract/rotation";

export type RevokeOutputs = "secretName" | "version" | "revoked";

export function createRevokeActivity(deps: ActivityDeps) {
  return async (
    { nodeId, desired }: ActivityInput<RevokeDesired>,
    secrets: SecretScope,
  ): Promise<ActivityResult<RevokeOutputs>> => {
    const secret = desired.secret;
    const name = secret.secretName;
    const client = vaultClient(deps, secret.vaultName);
    const latest = await latestVersion(client, name);
    if (!latest) throw permanent("SecretNotFound", `Secret '${name}' is not in vault ${secret.vaultName}.`);
    const state = await appReplicas(deps, desired.resourceGroup, desired.containerAppName);
    const waiting = notRunning(state, latest.createdOn);
    if (waiting)
      throw permanent(
        "NotInUseYet",
        `Container app ${desired.containerAppName} does not run ${name} version ${latest.version} yet (${waiting}): nothing was revoked. Run the rotation again.`,
      );

    const revoked: string[] = [];
    switch (secret.kind) {
      case "generated":
      case "supplied":
        break;
      case "clientSecret": {
        const live = latest.tags.keyId?.toLowerCase();
        if (!live)
          throw permanent(
            "ClientSecretUntracked",
            `Secret '${name}' does not say which password it holds (no keyId tag).`,
          );
        const graph = deps.graph();
        const application = (await graph
          .api(`/applications/${secret.applicationObjectId}`)
          .select("id,passwordCredentials")
          .get()) as { passwordCredentials?: { keyId?: string; displayName?: string }[] };
        const others = (application.passwordCredentials ?? []).filter(
          (credential) =>
            credential.displayName === secret.displayName &&
            credential.keyId &&
            credential.keyId.toLowerCase() !== live,
        );
        if (others.length > 0) deps.beforeWrite(["passwordCredentials (remove replaced)"], true);
        for (const credential of others) {
          try {
            await graph
              .api(`/applications/${secret.applicationObjectId}/removePassword`)
              .post({ keyId: credential.keyId });
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
          revoked.push(`password ${credential.keyId}`);
        }
        break;
      }
      case "storageKey":
      case "foundryKey": {
        if (rotationStateOf(latest) === "done") break;
        const account: KeyedAccount =
          secret.kind === "storageKey"
            ? { storage: secret }
            : { cognitive: { accountResourceId: secret.accountResourceId } };
        const previous = keyOfSource(latest.tags[ROTATION_TAGS.previousKey]);
        const current = keyOfSource(latest.tags[KEY_SOURCE_TAG]);
        const keys = await accountKeys(deps, account, secrets);
        // The vault copy must be the key it says it is: then the previous one is in use nowhere Shire put it.
        if (!previous || !current || previous === current || (await heldKey(client, name, keys, secrets)) !== current)
          throw permanent(
            "RotationStateUnclear",
            `Secret '${name}' version ${latest.version} does not hold the ${describeAccount(account)}'s key it names: nothing was regenerated. Run the rotation again.`,
          );
        deps.beforeWrite([`${previous} (regenerate)`], true);
        await regenerateKey(deps, account, previous);
        revoked.push(previous);
        break;
      }
    }
    const marked = await markDone(deps, client, name, latest);
    return {
      nodeId,
      action: revoked.length > 0 || marked ? "updated" : "unchanged",
      changed: revoked,
      outputs: { secretName: name, version: latest.version, revoked: revoked.length },
    };
  };
}
