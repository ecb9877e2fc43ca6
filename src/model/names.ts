/**
 * Every Azure and Entra name derived from a slug, deterministically. Names that are global in
 * Azure (Key Vault, storage account) carry a suffix hashed from (subscription, slug) so two
 * subscriptions installing the same slug do not collide, and a reinstall finds the same names.
 */
import { createHash } from "node:crypto";

/** Longest slug whose derived names all stay valid: the vault `kv-<slug>-<5>` must fit 24. */
export const MAX_SLUG_LENGTH = 15;
export const MIN_SLUG_LENGTH = 2;
export const SLUG_PATTERN = /^[a-z](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;

export const CONTAINER_APP_NAME = "openclaw";
export const STATE_SHARE_NAME = "openclaw-state";
export const STATE_VOLUME_NAME = "openclaw-state";
export const ADMINS_GROUP_NAME = "shire-admins";

/** Key Vault secret names (the vault holds them; the Container App references them). */
export const SECRET_NAMES = {
  gatewayToken: "gateway-token",
  entraClientSecret: "entra-client-secret",
  teamsAppPassword: "teams-app-password",
  storageAccountKey: "storage-account-key",
  foundryApiKey: "foundry-api-key",
  telegramBotToken: "telegram-bot-token",
  telegramWebhookSecret: "telegram-webhook-secret",
} as const;

/** Built-in role definition GUIDs (azure-facts §B). */
export const ROLE_IDS = {
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
} as const;

export interface SlugNames {
  slug: string;
  resourceGroup: string;
  logAnalytics: string;
  appInsights: string;
  identity: string;
  keyVault: string;
  storageAccount: string;
  fileShare: string;
  managedEnvironment: string;
  environmentStorage: string;
  containerApp: string;
  /** Azure Bot names are global: suffixed like the vault. */
  bot: string;
  /** The sign-in app registration (display name) and its tenant-unique key. */
  entraApp: string;
  entraAppUniqueName: string;
  /** The Teams bot's own app registration: Bot Framework must get tokens for it without an assignment. */
  botApp: string;
  botAppUniqueName: string;
  slugGroup: string;
  slugGroupUniqueName: string;
  adminsGroup: string;
  adminsGroupUniqueName: string;
}

/** Five lowercase base-36 characters from sha256(subscription/slug). */
export function globalSuffix(subscriptionId: string, slug: string): string {
  const digest = createHash("sha256").update(`${subscriptionId.toLowerCase()}/${slug}`).digest();
  return (digest.readUInt32BE(0) % 36 ** 5).toString(36).padStart(5, "0");
}

export function deriveNames(slug: string, options: { subscriptionId: string }): SlugNames {
  const suffix = globalSuffix(options.subscriptionId, slug);
  return {
    slug,
    resourceGroup: `claw-${slug}`,
    logAnalytics: `log-${slug}`,
    appInsights: `appi-${slug}`,
    identity: `id-openclaw-${slug}`,
    keyVault: `kv-${slug}-${suffix}`,
    storageAccount: `st${slug.replace(/-/g, "")}${suffix}`,
    fileShare: STATE_SHARE_NAME,
    managedEnvironment: `cae-${slug}`,
    environmentStorage: STATE_SHARE_NAME,
    containerApp: CONTAINER_APP_NAME,
    bot: `bot-${slug}-${suffix}`,
    entraApp: `shire-${slug}`,
    // uniqueName keys carry the suffix too: two Shire deployments (two subscriptions) sharing a
    // tenant must not adopt each other's objects for a slug of the same name.
    entraAppUniqueName: `shire-${slug}-${suffix}`,
    botApp: `shire-${slug}-bot`,
    botAppUniqueName: `shire-${slug}-${suffix}-bot`,
    slugGroup: `shire-${slug}`,
    slugGroupUniqueName: `shire-${slug}-${suffix}`,
    adminsGroup: ADMINS_GROUP_NAME,
    adminsGroupUniqueName: ADMINS_GROUP_NAME,
  };
}

export function resourceId(
  subscriptionId: string,
  resourceGroup: string,
  provider: string,
  ...typeAndNames: string[]
): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${provider}/${typeAndNames.join("/")}`;
}

/**
 * Role assignment name: a name-based (v5-style) UUID over (scope, role, principal), so the same
 * grant always has the same name and re-running is a no-op (azure-facts §B).
 */
export function roleAssignmentName(scope: string, roleDefinitionGuid: string, principalId: string): string {
  const bytes = createHash("sha1")
    .update(
      `shire-role-assignment:${scope.toLowerCase()}|${roleDefinitionGuid.toLowerCase()}|${principalId.toLowerCase()}`,
    )
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
