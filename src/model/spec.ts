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
