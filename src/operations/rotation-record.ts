/**
 * The rotation record: per slug and secret, which version the vault holds, when it was written
 * (the credential's age counts from there), when the schedule rotates it next, and how its last
 * rotation ended. A JSON blob beside the slug record (`rotations/<slug>.json`), shown in
 * `GET /api/slugs/{slug}` as `rotation`. It is a view of the vault: each rotation (and the
 * schedule, for slugs never rotated) reads the vault and writes it again, so a lost write is
 * corrected by the next one.
 */
import type { RotationKind } from "../contract/rotation";

export interface SecretRotation {
  name: string;
  kind: RotationKind;
  /** The version the vault holds now (what a versionless reference resolves to). */
  version: string | null;
  /** When that version was written. */
  lastRotatedAt: string | null;
  /** When the schedule rotates it next; null: on demand only (operator-supplied, or its kind's age is off). */
  nextDueAt: string | null;
  /** `staged`: a rotation wrote it and has not finished (the next one carries on); `done`; `installed`: never rotated. */
  state: "staged" | "done" | "installed";
  /** How this secret's last rotation ended. */
  lastResult?: { operationId: string; status: "succeeded" | "failed" | "canceled"; at: string; error?: string };
}

export interface RotationRecord {
  slug: string;
  updatedAt: string;
  secrets: SecretRotation[];
  /** When the next old version may be disabled (its grace period ends): the schedule comes back then. */
  oldVersionsDisableAt: string | null;
}

/** The record with the secrets as the vault shows them now; results of secrets this write does not speak for are kept. */
export function mergeRotation(
  current: RotationRecord | undefined,
  slug: string,
  secrets: SecretRotation[],
  at: string,
  oldVersionsDisableAt: string | null | undefined,
): RotationRecord {
  const previous = new Map((current?.secrets ?? []).map((secret) => [secret.name, secret]));
  return {
    slug,
    updatedAt: at,
    secrets: secrets.map((secret) => ({
      ...secret,
      ...(secret.lastResult
        ? {}
        : previous.get(secret.name)?.lastResult
          ? { lastResult: previous.get(secret.name)!.lastResult }
          : {}),
    })),
    oldVersionsDisableAt:
      oldVersionsDisableAt === undefined ? (current?.oldVersionsDisableAt ?? null) : oldVersionsDisableAt,
  };
}

/** What the schedule finds due (src/api/rotation-schedule.ts): the slug and the secrets. */
export interface DueSecrets {
  slug: string;
  secrets: string[];
}

/**
 * What is due on one slug now, from its rotation record (freshly read from the vault): secrets
 * older than their kind's age, secrets a rotation left staged (carried on), and old versions past
 * their grace period. Operator-supplied secrets are the operator's.
 */
export function dueOn(record: RotationRecord, now: Date): DueSecrets | undefined {
  const secrets = record.secrets
    .filter(
      (secret) =>
        secret.kind !== "supplied" &&
        (secret.state === "staged" || (secret.nextDueAt !== null && Date.parse(secret.nextDueAt) <= now.getTime())),
    )
    .map((secret) => secret.name);
  const cleanup = record.oldVersionsDisableAt !== null && Date.parse(record.oldVersionsDisableAt) <= now.getTime();
  return secrets.length > 0 || cleanup ? { slug: record.slug, secrets } : undefined;
}

/** How long ago the oldest due secret of a slug fell due (the most overdue go first). */
export function overdueBy(record: RotationRecord, now: Date): number {
  const due = record.secrets
    .map((secret) => (secret.nextDueAt ? Date.parse(secret.nextDueAt) : Infinity))
    .concat(record.oldVersionsDisableAt ? [Date.parse(record.oldVersionsDisableAt)] : []);
  return now.getTime() - Math.min(...due);
}
