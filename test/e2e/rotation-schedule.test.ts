/**
 * The scheduled rotation end to end: the timer on the local host starts a pass that rotates only
 * what is due (here: gateway tokens older than 40 s), skips a slug that is busy or retired, and
 * picks the busy one up on the next pass.
 */
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, waitForOperation, type OperationView } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { schedulePass as rotationSchedulePass } from "../fixtures/rotation";
import { until } from "../fixtures/wait";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { deriveNames } from "../../src/model/names";
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";
import type { SlugRecord } from "../../src/operations/records";
import type { RotationRecord } from "../../src/operations/rotation-record";
import type { ScheduleOutput } from "../../orchestrations/rotation-schedule";

const MAX_AGE_S = 40;
const shire = useInstallHost({
  env: {
    SHIRE_ROTATION_MAX_AGE: `generated=${MAX_AGE_S}s,clientSecret=off,storageKey=off,foundryKey=off`,
    SHIRE_ROTATION_GRACE_SECONDS: "3600",
    SHIRE_ROTATION_MAX_PARALLEL: "2",
    SHIRE_ROTATION_START_INTERVAL_MS: "100",
    SHIRE_TEARDOWN_GRACE_SECONDS: "86400",
  },
});

function succeeded(operation: OperationView): void {
  expect(operation.status, JSON.stringify(operation.steps.filter((step) => step.status !== "done"))).toBe("succeeded");
}

async function gatewayToken(slug: string): Promise<{ version: string; createdOn: Date }> {
  const vault = deriveNames(slug, { subscriptionId: SANDBOX_SUBSCRIPTION_ID }).keyVault;
  const secret = await shire.clients.secrets(keyVaultUrl(shire.sandbox.endpoints, vault)).getSecret("gateway-token");
  return { version: secret.properties.version!, createdOn: secret.properties.createdOn! };
}

const schedulePass = () => rotationSchedulePass(shire);

describe("scheduled rotation", () => {
  it("rotates only what is due, skips busy and retired slugs, and picks the busy one up on the next pass", async () => {
    for (const slug of ["busy", "old1", "old2", "fresh", "gone"]) succeeded(await install(shire.url, slug));
    const torn = await postJson(`${shire.url}/api/slugs/gone/teardown`, { confirm: "gone" });
    expect(torn.status).toBe(202);
    await until(
      async () => (await getJson<SlugRecord>(`${shire.url}/api/slugs/gone`)).body.state === "retired",
      "gone retired",
      { timeoutMs: 60_000 },
    );
    const oldest = Math.max(
      ...(await Promise.all(["busy", "old1", "old2"].map(gatewayToken))).map((token) => token.createdOn.getTime()),
    );
    // Until the tokens of busy, old1 and old2 are past their age (Key Vault's times are whole seconds).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, oldest + (MAX_AGE_S + 2) * 1000 - Date.now())));
    succeeded(
      await waitForOperation(
        shire.url,
        String((await postJson(`${shire.url}/api/slugs/fresh/rotate`, {})).body.operationId),
      ),
    );
    const before = Object.fromEntries(
      await Promise.all(
        ["busy", "old1", "old2", "fresh", "gone"].map(async (slug) => [slug, (await gatewayToken(slug)).version]),
      ),
    );

    // busy is being installed again while the pass looks (every request slowed, so it is still running).
    shire.sandbox.setFaults({ defaultLatencyMs: 150 });
    const reinstall = await postJson(`${shire.url}/api/slugs/busy/install`, {});
    expect(reinstall.status).toBe(202);
    let first: ScheduleOutput;
    try {
      first = await schedulePass();
    } finally {
      shire.sandbox.setFaults({ defaultLatencyMs: 0 });
    }
    succeeded(await waitForOperation(shire.url, String(reinstall.body.operationId), 120_000));
    expect(first.rotations.map((rotation) => [rotation.slug, rotation.status]).sort()).toEqual([
      ["old1", "succeeded"],
      ["old2", "succeeded"],
    ]);
    expect(first.skipped).toEqual(
      expect.arrayContaining([
        { slug: "busy", reason: "busy (installing)" },
        { slug: "gone", reason: "retired" },
      ]),
    );
    const after = Object.fromEntries(
      await Promise.all(
        ["busy", "old1", "old2", "fresh", "gone"].map(async (slug) => [slug, (await gatewayToken(slug)).version]),
      ),
    );
    expect(after.old1).not.toBe(before.old1);
    expect(after.old2).not.toBe(before.old2);
    for (const slug of ["busy", "fresh", "gone"]) expect(after[slug], slug).toBe(before[slug]);
    // The records say who asked, and the slug's rotation record what is due when.
    const operation = (
      await getJson<{ operations: { kind: string; actor: string }[] }>(`${shire.url}/api/operations?slug=old1`)
    ).body.operations[0];
    expect(operation).toMatchObject({ kind: "rotate", actor: "rotation schedule" });
    const record = (await getJson<SlugRecord & { rotation: RotationRecord }>(`${shire.url}/api/slugs/fresh`)).body
      .rotation;
    expect(record.secrets.find((secret) => secret.name === "gateway-token")?.nextDueAt).not.toBeNull();
    expect(record.secrets.find((secret) => secret.name === "entra-client-secret")?.nextDueAt).toBeNull();

    // Next pass: busy is free now and still due; old1, old2 and fresh were rotated moments ago.
    const second = await schedulePass();
    expect(second.rotations.map((rotation) => [rotation.slug, rotation.status])).toEqual([["busy", "succeeded"]]);
    expect((await gatewayToken("busy")).version).not.toBe(before.busy);
    expect((await gatewayToken("gone")).version).toBe(before.gone);
  }, 300_000);
});
