/**
 * The install request (`SlugSpecInput`: every field optional, `{}` is valid) and the normalized
 * `SlugSpec` with every default filled in. Secrets are never part of a spec: channel tokens are
 * written to the slug's vault out of band.
 */

/** OpenClaw version Shire installs by default (a pinned tag, never a moving one). */
export const DEFAULT_OPENCLAW_VERSION = "2026.9.6";
export const DEFAULT_OPENCLAW_IMAGE = `ghcr.io/openclaw/openclaw:${DEFAULT_OPENCLAW_VERSION}`;
export const DEFAULT_REGION = "westeurope";
export const DEFAULT_RESOURCES = { cpu: 1, memory: "2Gi" } as const;

/**
 * Channel plugins that ship outside the official image, pinned per OpenClaw version so an install
 * never pulls whatever npm's `latest` is that day. The Teams plugin's releases trail OpenClaw's
 * (2026.9.6 has plugin 2026.9.5); WhatsApp's follow them. A version not in the table (a newer
 * release) gets the plugin of the same version number. Shire's own runtime image
 * (infra/openclaw/Dockerfile) bakes the tarballs in, so the seed installs them without npm.
 */
export const CHANNEL_PLUGINS = {
  msteams: {
    package: "@openclaw/msteams",
    versions: { "2026.9.6": "2026.9.5", "2026.9.5": "2026.9.5", "2026.9.4": "2026.9.4" } as Record<string, string>,
  },
  whatsapp: {
    package: "@openclaw/whatsapp",
    versions: { "2026.9.6": "2026.9.6", "2026.9.5": "2026.9.5", "2026.9.4": "2026.9.4" } as Record<string, string>,
  },
} as const;

/** A plugin the seed brings to its pinned version: OpenClaw's plugin id and the npm spec. */
export interface PluginPin {
  id: string;
  spec: string;
}

/**
 * Whose identity the Teams bot is. `managedIdentity` (the default for a new Teams slug): the
 * slug's user-assigned managed identity, so Azure Bot is `UserAssignedMSI` and the bot has no
 * Entra app, no service principal and no password. `appRegistration`: the bot's own Entra app
 * `shire-<slug>-bot` with a client secret, as Teams slugs installed before had.
 */
export type TeamsBotIdentity = "managedIdentity" | "appRegistration";
export const TEAMS_BOT_IDENTITIES: readonly TeamsBotIdentity[] = ["managedIdentity", "appRegistration"];
export const DEFAULT_TEAMS_BOT_IDENTITY: TeamsBotIdentity = "managedIdentity";

export interface SlugSpecInput {
  /** The subscription of the placement pool to install in; absent: the first with room (docs/operations.md, "Placement"). */
  subscriptionId?: string;
  region?: string;
  image?: string;
  /** Allow a moving tag such as `latest` (off by default: upgrades must be deliberate). */
  allowMovingTag?: boolean;
  channels?: {
    teams?: { enabled?: boolean; botIdentity?: TeamsBotIdentity };
    telegram?: { enabled?: boolean; mode?: "polling" | "webhook" };
    whatsapp?: { enabled?: boolean };
  };
  foundry?: { endpoint?: string; accountResourceId?: string; deployment?: string };
  /** Extra Entra object ids (users or service principals) allowed to sign in. */
  allowedIdentities?: string[];
  /** Totals across the OpenClaw container and the NGINX sidecar; an allowed Container Apps pair. */
  resources?: { cpu?: number; memory?: string };
  tags?: Record<string, string>;
}

export interface SlugSpec {
  slug: string;
  /** The subscription the request asked for; the slug's record says where it is (placement may choose). */
  subscriptionId?: string;
  region: string;
  image: string;
  channels: {
    teams: boolean;
    /**
     * The Teams bot's identity, set whenever `teams` is on. A spec recorded before the field
     * existed has none: its bot is an app registration (read it through `teamsBotIdentityOf`).
     */
    teamsBotIdentity?: TeamsBotIdentity;
    telegram?: { mode: "polling" | "webhook" };
    whatsapp: boolean;
  };
  foundry?: { endpoint: string; accountResourceId?: string; deployment?: string };
  allowedIdentities: string[];
  resources: { cpu: number; memory: string };
  tags: Record<string, string>;
}

/**
 * The Teams bot's identity a spec asks for; undefined without Teams. A recorded spec from before
 * bot identities existed (Teams on, no `teamsBotIdentity`) had an app-registration bot, and keeps it.
 */
export function teamsBotIdentityOf(spec: Pick<SlugSpec, "channels">): TeamsBotIdentity | undefined {
  if (!spec.channels.teams) return undefined;
  return spec.channels.teamsBotIdentity ?? "appRegistration";
}

/** The OpenClaw version in an image reference (`...:2026.9.6[-suffix]`), if its tag names one. */
export function openClawVersionOf(image: string): string | undefined {
  return /:(\d{4}\.\d{1,2}\.\d+)(?:[-@][^/]*)?$/.exec(image)?.[1];
}

/** The plugins a slug's channels need, pinned for the image's OpenClaw version. */
export function pluginsFor(spec: Pick<SlugSpec, "image" | "channels">): PluginPin[] {
  const version = openClawVersionOf(spec.image);
  const pin = (id: keyof typeof CHANNEL_PLUGINS): PluginPin => {
    const plugin = CHANNEL_PLUGINS[id];
    const pluginVersion = (version && plugin.versions[version]) ?? version ?? plugin.versions[DEFAULT_OPENCLAW_VERSION];
    return { id, spec: `${plugin.package}@${pluginVersion}` };
  };
  return [...(spec.channels.teams ? [pin("msteams")] : []), ...(spec.channels.whatsapp ? [pin("whatsapp")] : [])];
}
