/**
 * What runs inside a Container App, as far as its credentials go: the sandbox's data-plane check
 * of what each replica holds (replicas.ts records it when the replica starts) against the services
 * that judge it. So a test, or an operator on `npm start`, sees whether a rotated credential is in
 * use and whether the one it replaced is refused:
 *
 * - each Key Vault reference: the version the replica resolved, and whether it is still the
 *   vault's latest;
 * - the sign-in (Easy Auth) client secret, against Entra's token endpoint rules (the app whose
 *   client id the auth config names; a removed or expired password fails with its AADSTS code);
 * - the Teams bot's password (`MSTEAMS_APP_ID` / `MSTEAMS_APP_PASSWORD`), the same way;
 * - each Azure Files mount's account key, against the account's current keys;
 * - the Foundry key (`AZURE_OPENAI_API_KEY`), against the AI services accounts' current keys;
 * - the gateway token: the gateway accepts exactly the value its replicas loaded.
 *
 * Values never leave: the answers are versions and verdicts.
 */
import type { ArmService } from "./arm";
import type { GraphService } from "./graph";
import { appReplicas, keyHash, type VaultSecretReader } from "./arm/providers/replicas";
import { asRecord } from "./arm/providers/rules";

type Json = Record<string, unknown>;
const list = (value: unknown) => (Array.isArray(value) ? (value as Json[]) : []);

export interface CredentialVerdict {
  ok: boolean;
  /** Why it is refused (an AADSTS code, a revoked key). */
  error?: string;
}

export interface ReplicaCheck {
  name: string;
  revision: string;
  createdTime: string;
  runningState: string;
  /** Why it did not start, if it did not. */
  failure?: string;
  /** App secret name -> the Key Vault version the replica holds, and whether the vault has a newer one. */
  secrets: Record<string, { vault: string; secret: string; version: string; latest: boolean }>;
  /** Volume -> the account it mounted and whether the key it mounted with still works. */
  mounts: Record<string, { account: string } & CredentialVerdict>;
  /** The sign-in's client secret (auth config), if the app has sign-in with a client secret. */
  signIn?: { clientId: string } & CredentialVerdict;
  /**
   * The Teams bot's credential, if the app runs the Teams channel: its password (an app
   * registration), or its managed identity (attached to the app, the client id the bot names).
   */
  teamsBot?: { appId: string } & CredentialVerdict;
  /** The Foundry key, if the app has one. */
  foundryKey?: CredentialVerdict;
}

export interface AppDataPlane {
  /** Every replica of the app (by ARM id) with what it holds and whether each credential still works. */
  check(appId: string): { app: string; replicas: ReplicaCheck[] };
  /**
   * Whether every running replica holds `value` for the app secret `secretName`: the gateway
   * accepts exactly the token it was started with (`gateway-token`). False when none runs.
   */
  accepts(appId: string, secretName: string, value: string): boolean;
  /** Whether an AI services account's data plane takes this key (`api-key`). */
  cognitiveKeyValid(accountId: string, key: string): boolean;
}

export function createAppDataPlane(arm: ArmService, graph: GraphService, readSecret: VaultSecretReader): AppDataPlane {
  const store = arm.store;
  const valueOf = (held: { vault: string; secret: string; version: string }) =>
    readSecret(held.vault, held.secret, held.version)?.value;

  const entra = (appId: string, secret: string | undefined): CredentialVerdict => {
    const result = graph.authenticateClient(appId, secret);
    return result.ok ? { ok: true } : { ok: false, error: ENTRA_ERRORS[result.error] ?? result.error };
  };

  const cognitiveKeyValid = (accountId: string, key: string) => {
    const keys = asRecord(store.get(accountId)?.hidden.keys);
    return key === keys.key1 || key === keys.key2;
  };

  const check = (appId: string) => {
    arm.engine.settle();
    const app = store.get(appId);
    /** MSAL's ManagedIdentityApplication gets a token only for a user-assigned identity attached to the app. */
    const managedIdentity = (clientId: string): CredentialVerdict => {
      const attached = Object.keys(asRecord(asRecord(app?.resource.identity).userAssignedIdentities));
      const found = attached.some(
        (id) => String(asRecord(store.get(id)?.resource.properties).clientId).toLowerCase() === clientId.toLowerCase(),
      );
      return found
        ? { ok: true }
        : { ok: false, error: `no user-assigned identity with client id ${clientId} is attached to the app` };
    };
    const auth = asRecord(store.get(`${appId}/authConfigs/current`)?.resource.properties);
    const registration = asRecord(asRecord(asRecord(auth.identityProviders).azureActiveDirectory).registration);
    const replicas = appReplicas(store, appId).map(({ revision, replica, loaded }): ReplicaCheck => {
      const properties = asRecord(replica.resource.properties);
      const secrets: ReplicaCheck["secrets"] = {};
      for (const [name, held] of Object.entries(loaded.secrets))
        secrets[name] = { ...held, latest: readSecret(held.vault, held.secret)?.version === held.version };
      const mounts: ReplicaCheck["mounts"] = {};
      for (const [volume, mount] of Object.entries(loaded.mounts)) {
        const keys = asRecord(store.findStorageAccount(mount.account)?.hidden.keys);
        const ok = [keys.key1, keys.key2].some((key) => typeof key === "string" && keyHash(key) === mount.keyHash);
        mounts[volume] = { account: mount.account, ok, ...(ok ? {} : { error: "the account key was regenerated" }) };
      }
      const env = environmentOf(revisionTemplate(revision));
      const heldValue = (secretName: string | undefined) => {
        const held = secretName ? loaded.secrets[secretName] : undefined;
        return held ? valueOf(held) : undefined;
      };
      const checked: ReplicaCheck = {
        name: replica.resource.name,
        revision,
        createdTime: String(properties.createdTime),
        runningState: String(properties.runningState),
        ...(loaded.failure ? { failure: loaded.failure } : {}),
        secrets,
        mounts,
      };
      if (auth.platform && typeof registration.clientId === "string" && registration.clientSecretSettingName)
        checked.signIn = {
          clientId: registration.clientId,
          ...entra(registration.clientId, heldValue(String(registration.clientSecretSettingName))),
        };
      const botAppId = env.values.MSTEAMS_APP_ID;
      const botIdentityClientId = env.values.MSTEAMS_MANAGED_IDENTITY_CLIENT_ID;
      if (botAppId && botIdentityClientId)
        checked.teamsBot = { appId: botAppId, ...managedIdentity(botIdentityClientId) };
      else if (botAppId)
        checked.teamsBot = { appId: botAppId, ...entra(botAppId, heldValue(env.secretRefs.MSTEAMS_APP_PASSWORD)) };
      if (env.secretRefs.AZURE_OPENAI_API_KEY) {
        const key = heldValue(env.secretRefs.AZURE_OPENAI_API_KEY);
        const ok =
          key !== undefined &&
          store
            .listByType("Microsoft.CognitiveServices/accounts")
            .some((account) => cognitiveKeyValid(account.resource.id, key));
        checked.foundryKey = ok ? { ok } : { ok, error: "no AI services account has this key (401 Access denied)" };
      }
      return checked;
    });
    return { app: app?.resource.id ?? appId, replicas };

    function revisionTemplate(revision: string): Json {
      return asRecord(asRecord(store.get(`${appId}/revisions/${revision}`)?.resource.properties).template);
    }
  };

  return {
    check,
    accepts: (appId, secretName, value) => {
      const running = appReplicas(store, appId).filter(
        ({ replica }) => asRecord(replica.resource.properties).runningState === "Running",
      );
      return (
        running.length > 0 &&
        running.every(({ loaded }) => {
          const held = loaded.secrets[secretName];
          return held !== undefined && valueOf(held) === value;
        })
      );
    },
    cognitiveKeyValid,
  };
}

/** Entra's codes for what `authenticateClient` refuses (login.ts answers the same). */
const ENTRA_ERRORS: Record<string, string> = {
  invalidSecret: "AADSTS7000215: Invalid client secret provided.",
  expiredSecret: "AADSTS7000222: The provided client secret keys are expired.",
  missingSecret: "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required.",
  unknownApplication: "AADSTS700016: Application not found in the directory.",
  noServicePrincipal: "AADSTS7000229: The client application is missing service principal in the tenant.",
};

/** The app containers' environment: plain values and secret references, by variable name. */
function environmentOf(template: Json): { values: Record<string, string>; secretRefs: Record<string, string> } {
  const values: Record<string, string> = {};
  const secretRefs: Record<string, string> = {};
  for (const container of list(template.containers))
    for (const variable of list(container.env)) {
      if (typeof variable.value === "string") values[String(variable.name)] = variable.value;
      if (typeof variable.secretRef === "string") secretRefs[String(variable.name)] = variable.secretRef;
    }
  return { values, secretRefs };
}
