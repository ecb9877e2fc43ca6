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
 * The Microsoft Teams plugin ships outside the official image; its releases trail OpenClaw's
 * (2026.9.6 has plugin 2026.9.5). Pinned per OpenClaw version, so an install never pulls
 * whatever npm's `latest` is that day. Unknown versions (a digest, a newer release) get the
 * plugin of the same version number; Shire's own runtime image bakes the plugin in, and the seed
 * then installs nothing.
 */
export const TEAMS_PLUGIN_VERSIONS: Record<string, string> = { "2026.9.6": "2026.9.5", "2026.9.5": "2026.9.5", "2026.9.4": "2026.9.4" };
export const TEAMS_PLUGIN_PACKAGE = "@openclaw/msteams";

export interface SlugSpecInput {
  region?: string;
  image?: string;
  /** Allow a moving tag such as `latest` (off by default: upgrades must be deliberate). */
  allowMovingTag?: boolean;
  channels?: {
    teams?: { enabled?: boolean };
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
  region: string;
  image: string;
  channels: {
    teams: boolean;
    telegram?: { mode: "polling" | "webhook" };
    whatsapp: boolean;
  };
  foundry?: { endpoint: string; accountResourceId?: string; deployment?: string };
  allowedIdentities: string[];
  resources: { cpu: number; memory: string };
  tags: Record<string, string>;
}

/** The OpenClaw version in an image reference (`...:2026.9.6[-suffix]`), if its tag names one. */
export function openClawVersionOf(image: string): string | undefined {
  return /:(\d{4}\.\d{1,2}\.\d+)(?:[-@][^/]*)?$/.exec(image)?.[1];
}

/** npm specs of the plugins a slug's channels need (installed by the seed when not baked in). */
export function pluginsFor(spec: Pick<SlugSpec, "image" | "channels">): string[] {
  if (!spec.channels.teams) return [];
  const version = openClawVersionOf(spec.image);
  const pluginVersion = (version && TEAMS_PLUGIN_VERSIONS[version]) ?? version ?? TEAMS_PLUGIN_VERSIONS[DEFAULT_OPENCLAW_VERSION];
  return [`${TEAMS_PLUGIN_PACKAGE}@${pluginVersion}`];
}
