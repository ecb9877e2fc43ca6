/**
 * At-least-once delivery: every activity of rotation (each phase, the rotation record, the
 * schedule's find, start and check) delivered twice, as a host that dies between an activity's end
 * and its record does. A rotation on demand and a scheduled pass still rotate each slug once, and
 * leave one working credential of each kind in use.
 */
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, waitForOperation, type OperationView } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { credentialProblems, secretValues, schedulePass } from "../fixtures/rotation";
import { OperationStore } from "../../src/operations/records";
import { rotatable, rotationTargets, type RotationTargets } from "../../src/operations/rotation";

const TWICE = new Set([
  "stageSecretRotation",
  "restartAppOntoSecrets",
  "revokeRotatedSecret",
  "retireOldSecretVersions",
  "recordSecretRotation",
  "findDueRotations",
  "startScheduledRotation",
  "checkScheduledRotations",
]);
const shire = useInstallHost({
  durableFaults: { duplicateActivityDelivery: (name) => TWICE.has(name) },
  env: {
    SHIRE_ROTATION_MAX_AGE: "generated=2s,clientSecret=2s,storageKey=2s,foundryKey=2s",
    SHIRE_ROTATION_GRACE_SECONDS: "3600",
    SHIRE_ROTATION_START_INTERVAL_MS: "100",
  },
});

async function targetsOf(slug: string): Promise<RotationTargets> {
  return rotationTargets(await OperationStore.fromEnv().getApplied(slug))!;
}

function succeeded(operation: OperationView): void {
  expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe("succeeded");
}

async function rotateOperations(slug: string): Promise<{ id: string; kind: string; actor: string }[]> {
  const { body } = await getJson<{ operations: { id: string; kind: string; actor: string }[] }>(
    `${shire.url}/api/operations?slug=${slug}`,
  );
  return body.operations.filter((operation) => operation.kind === "rotate");
}

describe("rotation with every activity delivered twice", () => {
  it("rotates on demand and on schedule, each slug once, with one working credential of each kind in use", async () => {
    for (const slug of ["twin1", "twin2"]) succeeded(await install(shire.url, slug));
    const targets = { twin1: await targetsOf("twin1"), twin2: await targetsOf("twin2") };

    let before = secretValues(shire.sandbox, targets.twin1);
    const started = await postJson(`${shire.url}/api/slugs/twin1/rotate`, {});
    succeeded(await waitForOperation(shire.url, String(started.body.operationId)));
    const names = rotatable(targets.twin1).map((secret) => secret.name);
    expect(await credentialProblems(shire.sandbox, shire.clients, targets.twin1, { before, rotated: names })).toEqual(
      [],
    );

    // Every credential of both slugs past its 2 s age.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    before = { ...secretValues(shire.sandbox, targets.twin1) };
    const beforeTwin2 = secretValues(shire.sandbox, targets.twin2);
    const output = await schedulePass(shire, { timeoutMs: 120_000, intervalMs: 200 });
    expect(output.rotations.map((rotation) => [rotation.slug, rotation.status]).sort()).toEqual([
      ["twin1", "succeeded"],
      ["twin2", "succeeded"],
    ]);
    // Once each: one rotation on demand for twin1, one scheduled for each.
    expect((await rotateOperations("twin1")).map((operation) => operation.actor).sort()).toEqual([
      "local-developer",
      "rotation schedule",
    ]);
    expect((await rotateOperations("twin2")).map((operation) => operation.actor)).toEqual(["rotation schedule"]);
    for (const [slug, values] of [
      ["twin1", before],
      ["twin2", beforeTwin2],
    ] as const)
      expect(
        await credentialProblems(shire.sandbox, shire.clients, targets[slug], { before: values, rotated: names }),
        slug,
      ).toEqual([]);
  }, 300_000);
});
