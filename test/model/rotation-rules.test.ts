/**
 * The rotation's pure rules: the policy the app settings give, which secrets a request chooses,
 * the walk built for them, and what the schedule finds due in a rotation record.
 */
import { describe, expect, it } from "vitest";
import { nextDue, rotationPolicyFromEnv } from "../../src/operations/rotation-policy";
import { rotationSteps, validateRotateRequest, type RotationTargets } from "../../src/operations/rotation";
import { dueOn, type RotationRecord } from "../../src/operations/rotation-record";

const DAY = 86_400_000;

describe("rotation policy", () => {
  it("defaults to 90 days for each kind, a day of grace, 10 at a time, one start a second", () => {
    expect(rotationPolicyFromEnv({})).toEqual({
      maxAgeMs: { generated: 90 * DAY, clientSecret: 90 * DAY, storageKey: 90 * DAY, foundryKey: 90 * DAY },
      graceMs: DAY,
      maxParallel: 10,
      startIntervalMs: 1000,
    });
  });

  it("reads per-kind ages with units, `off`, and refuses what it cannot read", () => {
    const policy = rotationPolicyFromEnv({
      SHIRE_ROTATION_MAX_AGE: "generated=30d, clientSecret=12h,storageKey=off",
      SHIRE_ROTATION_GRACE_SECONDS: "60",
    });
    expect(policy.maxAgeMs).toEqual({
      generated: 30 * DAY,
      clientSecret: 12 * 3_600_000,
      storageKey: undefined,
      foundryKey: 90 * DAY,
    });
    expect(policy.graceMs).toBe(60_000);
    const at = new Date("2026-12-01T00:00:00Z");
    expect(nextDue(policy, "generated", at)?.toISOString()).toBe("2026-12-31T00:00:00.000Z");
    expect(nextDue(policy, "storageKey", at)).toBeNull();
    expect(nextDue(policy, "supplied", at)).toBeNull();
    expect(() => rotationPolicyFromEnv({ SHIRE_ROTATION_MAX_AGE: "gateway=3d" })).toThrow(/not <kind>=/);
    expect(() => rotationPolicyFromEnv({ SHIRE_ROTATION_MAX_AGE: "generated=3w" })).toThrow(/not <kind>=/);
    expect(() => rotationPolicyFromEnv({ SHIRE_ROTATION_GRACE_SECONDS: "soon" })).toThrow(/must be a number/);
  });
});

const targets: RotationTargets = {
  vaultName: "kv-demo-abcde",
  resourceGroup: "claw-demo",
  containerAppName: "openclaw",
  secrets: [
    {
      name: "gateway-token",
      kind: "generated",
      title: "Gateway token",
      secret: { vaultName: "kv-demo-abcde", secretName: "gateway-token", kind: "generated", bytes: 32 },
    },
    {
      name: "telegram-bot-token",
      kind: "supplied",
      title: "Telegram bot token",
      secret: { vaultName: "kv-demo-abcde", secretName: "telegram-bot-token", kind: "supplied" },
    },
  ],
};

describe("rotate requests", () => {
  it("chooses every secret Shire rotates by default, nothing for [], and lists every problem", () => {
    expect(validateRotateRequest(undefined, targets)).toMatchObject({ ok: true, secrets: [{ name: "gateway-token" }] });
    expect(validateRotateRequest({}, targets)).toMatchObject({ ok: true, secrets: [{ name: "gateway-token" }] });
    expect(validateRotateRequest({ secrets: [] }, targets)).toEqual({ ok: true, secrets: [] });
    const refused = validateRotateRequest({ secrets: ["telegram-bot-token", 7, "nope"], extra: 1 }, targets);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.problems.map((problem) => problem.path)).toEqual([
      "extra",
      "secrets[0]",
      "secrets[1]",
      "secrets[2]",
    ]);
    expect(validateRotateRequest([], targets).ok).toBe(false);
    // A body-sized list is refused at once, not checked name against name.
    const long = validateRotateRequest({ secrets: Array.from({ length: 30_000 }, (_, i) => `s${i}`) }, targets);
    expect(!long.ok && long.problems).toEqual([{ path: "secrets", message: "lists at most 50 names, not 30000." }]);
  });

  it("builds stage -> restart -> revoke -> retire, and only retire for nothing", () => {
    const steps = rotationSteps(targets, [targets.secrets[0]], 60_000);
    expect(steps.map((step) => [step.id, step.dependsOn, step.activity])).toEqual([
      ["stage:gateway-token", [], "stageSecretRotation"],
      ["restart", ["stage:gateway-token"], "restartAppOntoSecrets"],
      ["revoke:gateway-token", ["restart"], "revokeRotatedSecret"],
      ["retireVersions", ["revoke:gateway-token"], "retireOldSecretVersions"],
    ]);
    expect(steps.find((step) => step.id === "retireVersions")?.desired).toEqual({
      vaultName: "kv-demo-abcde",
      secretNames: ["gateway-token", "telegram-bot-token"],
      graceMs: 60_000,
    });
    expect(rotationSteps(targets, [], 60_000).map((step) => [step.id, step.dependsOn])).toEqual([
      ["retireVersions", []],
    ]);
  });
});

describe("what the schedule finds due", () => {
  const record = (
    secrets: Partial<RotationRecord["secrets"][number]>[],
    oldVersionsDisableAt: string | null = null,
  ): RotationRecord => ({
    slug: "demo",
    updatedAt: "2026-12-01T00:00:00Z",
    oldVersionsDisableAt,
    secrets: secrets.map((secret) => ({
      name: "gateway-token",
      kind: "generated",
      version: "v",
      lastRotatedAt: "2026-09-01T00:00:00Z",
      nextDueAt: null,
      state: "done",
      ...secret,
    })),
  });
  const now = new Date("2026-12-01T00:00:00Z");

  it("is what is past its age, what a rotation left staged, and old versions past their grace; never an operator's secret", () => {
    expect(dueOn(record([{ nextDueAt: "2026-11-30T00:00:00Z" }]), now)).toEqual({
      slug: "demo",
      secrets: ["gateway-token"],
    });
    expect(dueOn(record([{ nextDueAt: "2026-12-02T00:00:00Z" }]), now)).toBeUndefined();
    expect(dueOn(record([{ nextDueAt: "2027-01-01T00:00:00Z", state: "staged" }]), now)).toEqual({
      slug: "demo",
      secrets: ["gateway-token"],
    });
    expect(dueOn(record([{ name: "telegram-bot-token", kind: "supplied", state: "staged" }]), now)).toBeUndefined();
    expect(dueOn(record([{ nextDueAt: null }], "2026-11-30T12:00:00Z"), now)).toEqual({ slug: "demo", secrets: [] });
    expect(dueOn(record([{ nextDueAt: null }], "2026-12-01T12:00:00Z"), now)).toBeUndefined();
  });
});
