/**
 * When secrets are rotated, from the app settings:
 *
 * - `SHIRE_ROTATION_SCHEDULE`: the timer's NCRONTAB (default `0 0 3 * * *`, daily at 03:00 UTC);
 * - `SHIRE_ROTATION_MAX_AGE`: how old each kind's credential may get before the schedule rotates
 *   it, as `kind=<n><s|m|h|d>` pairs (`generated=90d,clientSecret=60d`; the rest keep their
 *   defaults: 90 days for each; a client secret is valid 180 days and renewed by an install 30
 *   days before it expires). `off` leaves a kind to on-demand rotation;
 * - `SHIRE_ROTATION_GRACE_SECONDS`: how long a replaced version stays enabled (default 1 day);
 * - `SHIRE_ROTATION_MAX_PARALLEL` (default 10) and `SHIRE_ROTATION_START_INTERVAL_MS` (default
 *   1000): the schedule's pace (see orchestrations/rotation-schedule.ts for the budget it keeps).
 */
import { BrokerError } from "../errors";
import type { RotationKind } from "../contract/rotation";

export type ScheduledKind = Exclude<RotationKind, "supplied">;

export interface RotationPolicy {
  /** Per kind: the age (ms) at which the schedule rotates a credential; undefined: never on schedule. */
  maxAgeMs: Record<ScheduledKind, number | undefined>;
  graceMs: number;
  maxParallel: number;
  startIntervalMs: number;
}

export const DEFAULT_ROTATION_SCHEDULE = "0 0 3 * * *";
const DAY_MS = 86_400_000;
const DEFAULT_MAX_AGE_MS: Record<ScheduledKind, number> = {
  generated: 90 * DAY_MS,
  clientSecret: 90 * DAY_MS,
  storageKey: 90 * DAY_MS,
  foundryKey: 90 * DAY_MS,
};
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };

function notConfigured(message: string): BrokerError {
  return new BrokerError("NotConfigured", message, { statusCode: 503 });
}

function parseMaxAge(raw: string | undefined): RotationPolicy["maxAgeMs"] {
  const ages: RotationPolicy["maxAgeMs"] = { ...DEFAULT_MAX_AGE_MS };
  if (!raw?.trim()) return ages;
  for (const pair of raw.split(/[,\s]+/).filter(Boolean)) {
    const match = /^(generated|clientSecret|storageKey|foundryKey)=(?:(\d+(?:\.\d+)?)([smhd])|(off))$/.exec(pair);
    if (!match)
      throw notConfigured(
        `SHIRE_ROTATION_MAX_AGE: '${pair}' is not <kind>=<number><s|m|h|d> or <kind>=off (kinds: generated, clientSecret, storageKey, foundryKey).`,
      );
    ages[match[1] as ScheduledKind] = match[4] ? undefined : Number(match[2]) * UNITS[match[3]];
  }
  return ages;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, scale = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw notConfigured(`${name} must be a number (got '${raw}').`);
  return Math.round(value * scale);
}

export function rotationPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RotationPolicy {
  return {
    maxAgeMs: parseMaxAge(env.SHIRE_ROTATION_MAX_AGE),
    graceMs: positive(env, "SHIRE_ROTATION_GRACE_SECONDS", DAY_MS, 1000),
    maxParallel: Math.max(1, positive(env, "SHIRE_ROTATION_MAX_PARALLEL", 10)),
    startIntervalMs: positive(env, "SHIRE_ROTATION_START_INTERVAL_MS", 1000),
  };
}

/** When a credential written at `rotatedAt` is due, or null when its kind is not rotated on schedule. */
export function nextDue(policy: RotationPolicy, kind: RotationKind, rotatedAt: Date): Date | null {
  if (kind === "supplied") return null;
  const age = policy.maxAgeMs[kind];
  return age === undefined ? null : new Date(rotatedAt.getTime() + age);
}
