/**
 * The two kinds of secret that are an account's key (storage, Foundry): both accounts have two
 * keys, key1 and key2, so one can be regenerated while the other is in use. Reading and
 * regenerating them, the same way for both; values stay in the activity's SecretScope.
 */
import type { SecretScope } from "../define";
import type { ActivityDeps } from "../deps";
import { permanent } from "../errors";
import type { AccountKeyName } from "../../src/contract/rotation";

export type AccountKeys = Record<AccountKeyName, string>;

export type KeyedAccount =
  { storage: { resourceGroup: string; accountName: string } } | { cognitive: { accountResourceId: string } };

export function parseAccountId(id: string): { resourceGroup: string; name: string } {
  const match = /\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(id);
  if (!match) throw permanent("InvalidResourceId", `Not a resource id: ${id}`);
  return { resourceGroup: match[1], name: match[2] };
}

export function describeAccount(account: KeyedAccount): string {
  return "storage" in account
    ? `storage account ${account.storage.accountName}`
    : `AI Foundry account ${parseAccountId(account.cognitive.accountResourceId).name}`;
}

export async function accountKeys(
  deps: ActivityDeps,
  account: KeyedAccount,
  secrets: SecretScope,
): Promise<AccountKeys> {
  let key1: string | undefined;
  let key2: string | undefined;
  if ("storage" in account) {
    const listed = await deps.clients.storage.storageAccounts.listKeys(
      account.storage.resourceGroup,
      account.storage.accountName,
    );
    key1 = listed.keys?.find((key) => key.keyName === "key1")?.value;
    key2 = listed.keys?.find((key) => key.keyName === "key2")?.value;
  } else {
    const { resourceGroup, name } = parseAccountId(account.cognitive.accountResourceId);
    const listed = await deps.clients.cognitiveServices.accounts.listKeys(resourceGroup, name);
    key1 = listed.key1;
    key2 = listed.key2;
  }
  secrets.add(key1);
  secrets.add(key2);
  if (!key1 || !key2) throw permanent("AccountKeysUnavailable", `The ${describeAccount(account)} returned no keys.`);
  return { key1, key2 };
}

/** A new value for one key: whoever still used it is refused from now on. */
export async function regenerateKey(deps: ActivityDeps, account: KeyedAccount, key: AccountKeyName): Promise<void> {
  if ("storage" in account) {
    await deps.clients.storage.storageAccounts.regenerateKey(
      account.storage.resourceGroup,
      account.storage.accountName,
      {
        keyName: key,
      },
    );
    return;
  }
  const { resourceGroup, name } = parseAccountId(account.cognitive.accountResourceId);
  await deps.clients.cognitiveServices.accounts.regenerateKey(resourceGroup, name, key === "key1" ? "Key1" : "Key2");
}
