/**
 * What the rotation's orchestration, its activities and the model share: the kinds of secret a
 * slug holds and how each is rotated, the phases' desired states, and the tags by which a
 * secret's Key Vault versions say what a rotation did (the vault, not Shire's records, is where a
 * half-finished rotation is found and resumed).
 */
import type { EnvironmentStorageDesired } from "./resources";

/**
 * How a secret is rotated, never without a working credential:
 * - `generated` (gateway token, Telegram webhook secret): a new random value in the vault, the app
 *   restarted onto it; the old value is then accepted nowhere (the gateway knows only what it loaded);
 * - `clientSecret` (the sign-in app's and the Teams bot's Entra client secrets): addPassword, the
 *   vault, the restart, then removePassword of every older password;
 * - `storageKey`: the environment storage and the vault copy moved to the account's other key, the
 *   restart, then the old key regenerated;
 * - `foundryKey` (a Foundry account the slug names): the vault moved to the other key, the restart,
 *   then the old key regenerated (Cognitive Services regenerateKey);
 * - `supplied` (a Telegram bot token, a Foundry key without an account): the operator writes the
 *   new value (`PUT /api/slugs/{slug}/secrets/{name}`); rotation restarts the app onto it.
 */
export type RotationKind = "generated" | "clientSecret" | "storageKey" | "foundryKey" | "supplied";

interface SecretInVault {
  vaultName: string;
  secretName: string;
}

/** One secret a rotation works on, with what its kind needs (resolved from what the slug applied). */
export type RotationSecret =
  | (SecretInVault & { kind: "generated"; bytes: number })
  | (SecretInVault & { kind: "clientSecret"; applicationObjectId: string; displayName: string; validityDays: number })
  | (SecretInVault & {
      kind: "storageKey";
      resourceGroup: string;
      accountName: string;
      /** The environment storage that mounts the share with the key (moved with the vault copy). */
      environmentStorage: EnvironmentStorageDesired;
    })
  | (SecretInVault & { kind: "foundryKey"; accountResourceId: string })
  /** `version`: the one the operator just wrote (PUT); absent: the vault's latest. */
  | (SecretInVault & { kind: "supplied"; version?: string });

/** Activity names of the rotation's phases (walk steps name them instead of `<verb><Kind>`). */
export const ROTATION_ACTIVITIES = {
  stage: "stageSecretRotation",
  restart: "restartAppOntoSecrets",
  revoke: "revokeRotatedSecret",
  retireVersions: "retireOldSecretVersions",
} as const;

/** The activity that writes the rotation record from the vault when a rotation ends (activities/rotation/record.ts). */
export const RECORD_ROTATION = "recordSecretRotation";

export interface RecordRotationInput {
  slug: string;
  /** The subscription the slug is placed in (absent: the broker's own). */
  subscriptionId?: string;
  vaultName: string;
  /** Every secret of the slug. */
  secrets: { name: string; kind: RotationKind }[];
  /** The operation, and its outcome for each secret it rotated. */
  operationId?: string;
  outcomes?: Record<string, { status: "succeeded" | "failed" | "canceled"; error?: string }>;
  at: string;
  /** When the next old version may be disabled (the retire phase says); absent: keep what the record says. */
  oldVersionsDisableAt?: string | null;
}

/** The restart phase: the app restarted once onto every secret the rotation staged, and seen healthy. */
export interface RestartDesired {
  resourceGroup: string;
  containerAppName: string;
  vaultName: string;
  /** The app reads these: every replica must have started after their latest versions were written. */
  secretNames: string[];
}

/** The revoke phase: what the staged version replaced goes, once the app provably runs the new one. */
export interface RevokeDesired {
  secret: RotationSecret;
  /** The app that reads the secret (or mounts the share, for the storage key). */
  resourceGroup: string;
  containerAppName: string;
}

/** Old versions of these secrets are disabled once they have been superseded for `graceMs`. */
export interface RetireVersionsDesired {
  vaultName: string;
  secretNames: string[];
  graceMs: number;
}

/** Tags on the Key Vault version a rotation writes (Key Vault allows 15 per version). */
export const ROTATION_TAGS = {
  /** The operation that wrote the version. */
  operation: "shire-rotation",
  /** `staged` until the app provably runs it and the old credential is revoked; then `done`. */
  state: "shire-rotation-state",
  /** storageKey / foundryKey: the account key the version replaced (`key1`, `key2`). */
  previousKey: "shire-previous-key",
} as const;

/**
 * storageKey / foundryKey: the tag naming the account key a version copies, `<account>/<key>`
 * (the same tag the `secret` kind writes when it copies a key at install).
 */
export const KEY_SOURCE_TAG = "source";

export function keySource(account: string, key: AccountKeyName): string {
  return `${account}/${key}`;
}

/** The key a `source` tag names, when it names one of the account's. */
export function keyOfSource(tag: string | undefined): AccountKeyName | undefined {
  const key = tag?.split("/").at(-1)?.toLowerCase();
  return key === "key1" || key === "key2" ? key : undefined;
}

export type RotationState = "staged" | "done";

/** The account key names of the two kinds that alternate. */
export type AccountKeyName = "key1" | "key2";

export function otherKey(key: AccountKeyName): AccountKeyName {
  return key === "key1" ? "key2" : "key1";
}
