/**
 * The lifecycle operations one after another on one slug, each standing on what the one before it
 * left: install, rotate every secret, upgrade, install again, export, teardown. After each, the
 * drift audit must find nothing (an operation that leaves the footprint off its own plan would
 * make every later audit cry wolf), and converging again must write nothing.
 */
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, slugDrift, waitForOperation, type OperationView } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import type { DriftRecord } from "../../src/operations/drift";

const shire = useInstallHost({
  env: { SHIRE_UPGRADE_GATE_TIMEOUT_MS: "5000", SHIRE_UPGRADE_GATE_POLL_MS: "200" },
});

const SLUG = "lifer";
const OLDER = "ghcr.io/openclaw/openclaw:2026.9.5";

async function operation(route: string, body: unknown): Promise<OperationView> {
  const started = await postJson(`${shire.url}/api/slugs/${SLUG}/${route}`, body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return waitForOperation(shire.url, String(started.body.operationId), 120_000);
}

/** An audit of the slug: what it found drifted (empty when clean), and that it wrote nothing. */
async function drifted(): Promise<DriftRecord["drifted"]> {
  const mark = shire.mark();
  const record = await slugDrift(shire.url, SLUG);
  expect(shire.writesSince(mark)).toEqual([]);
  return record.drifted;
}

describe("one slug through every lifecycle operation", () => {
  it("stays on its plan after each: install, rotate, upgrade, install again, export, teardown", async () => {
    expect((await install(shire.url, SLUG, { channels: { teams: { enabled: true } } })).status).toBe("succeeded");
    expect(await drifted()).toEqual([]);

    // Every secret Shire rotates itself: new credentials in use, the old ones revoked.
    const rotated = await operation("rotate", {});
    expect(rotated.status, JSON.stringify(rotated.steps)).toBe("succeeded");
    expect(await drifted()).toEqual([]);

    const upgraded = await operation("upgrade", { image: OLDER });
    expect(upgraded.status, JSON.stringify(upgraded.steps)).toBe("succeeded");
    expect(await drifted()).toEqual([]);

    // The same spec again (the upgraded image, Teams on): nothing to write, the rotation kept.
    const mark = shire.mark();
    const again = await install(shire.url, SLUG, { image: OLDER, channels: { teams: { enabled: true } } });
    expect(again.status).toBe("succeeded");
    expect(shire.writesSince(mark).map((write) => `${write.method} ${write.url}`)).toEqual([]);
    expect(await drifted()).toEqual([]);

    const exported = await fetch(`${shire.url}/api/slugs/${SLUG}/template`);
    expect(exported.status).toBe(200);
    expect(JSON.stringify(await exported.json())).toContain(OLDER);

    const torn = await operation("teardown", { confirm: SLUG, purge: true });
    expect(torn.status, JSON.stringify(torn.steps)).toBe("succeeded");
    const slug = await getJson<{ state: string }>(`${shire.url}/api/slugs/${SLUG}`);
    expect(slug.body.state).toBe("destroyed");
    const left = (shire.sandbox.inspect() as { arm: { resources: { id: string }[] } }).arm.resources.filter(
      (resource) => resource.id.toLowerCase().includes(`/resourcegroups/claw-${SLUG}`),
    );
    expect(left).toEqual([]);
  }, 600_000);
});
