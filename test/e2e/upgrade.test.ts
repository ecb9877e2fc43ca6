/**
 * Per-slug upgrade end to end: the real app on the local host, the sandbox as Azure. An upgrade
 * snapshots the share, replaces the revision and passes the health gate; a second one changes
 * nothing; an image that never becomes healthy is rolled back with the share restored.
 */
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, waitForOperation, type OperationView } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import type { UpgradeDetails } from "../../src/operations/records";
import { deriveNames } from "../../src/model/names";
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";

const shire = useInstallHost({
  env: { SHIRE_UPGRADE_GATE_TIMEOUT_MS: "3000", SHIRE_UPGRADE_GATE_POLL_MS: "200" },
});

const IMAGE = (version: string) => `ghcr.io/openclaw/openclaw:${version}`;
type UpgradeView = OperationView & { upgrade?: UpgradeDetails };

async function upgrade(slug: string, image: string): Promise<UpgradeView> {
  const started = await postJson(`${shire.url}/api/slugs/${slug}/upgrade`, { image });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return (await waitForOperation(shire.url, String(started.body.operationId))) as UpgradeView;
}

function footprint(slug: string) {
  const names = deriveNames(slug, { subscriptionId: SANDBOX_SUBSCRIPTION_ID });
  const state = shire.sandbox.inspect() as {
    arm: { resources: { id: string; type: string; properties: Record<string, unknown> }[] };
  };
  const app = state.arm.resources.find(
    (resource) =>
      resource.type === "Microsoft.App/containerApps" &&
      resource.id.includes(`/resourceGroups/${names.resourceGroup}/`),
  )!;
  const containers = (app.properties.template as { containers: { name: string; image: string }[] }).containers;
  return {
    image: containers.find((container) => container.name === "openclaw")!.image,
    latestRevisionName: app.properties.latestRevisionName as string,
    latestReadyRevisionName: app.properties.latestReadyRevisionName as string,
    share: shire.sandbox.shareContent(names.resourceGroup, names.storageAccount, names.fileShare),
  };
}

/** ARM writes the sandbox answered since `since` (an ISO time). */
const armWritesSince = (since: string) =>
  shire.sandbox
    .requests()
    .filter(
      (request) =>
        request.time >= since &&
        ["PUT", "PATCH", "POST", "DELETE"].includes(request.method) &&
        request.url.includes("/subscriptions/"),
    );

describe("upgrade one slug", () => {
  it("snapshots the share, replaces the revision, passes the gate; again on the same image changes nothing", async () => {
    const installed = await install(shire.url, "up-one", {
      image: IMAGE("2026.9.5"),
      channels: { teams: { enabled: true } },
    });
    expect(installed.status).toBe("succeeded");
    const before = footprint("up-one");
    expect(before.share).toEqual({ openclawVersion: "2026.9.5", migrations: 1 });

    const upgradeStarted = new Date().toISOString();
    const upgraded = await upgrade("up-one", IMAGE("2026.9.6"));
    expect(upgraded.status, upgraded.message).toBe("succeeded");
    expect(upgraded.upgrade).toMatchObject({
      fromImage: IMAGE("2026.9.5"),
      fromRevision: before.latestRevisionName,
      toImage: IMAGE("2026.9.6"),
      migrated: true,
    });
    expect(upgraded.upgrade!.snapshot).toMatch(/\.\d{7}Z$/);
    expect(upgraded.steps.map((step) => [step.id, step.status])).toEqual([
      ["inspect", "done"],
      ["snapshot", "done"],
      ["containerApp", "done"],
      ["healthGate", "done"],
    ]);
    const after = footprint("up-one");
    expect(after.image).toBe(IMAGE("2026.9.6"));
    expect(after.latestReadyRevisionName).toBe(upgraded.upgrade!.toRevision);
    expect(after.latestReadyRevisionName).not.toBe(before.latestRevisionName);
    expect(after.share).toEqual({ openclawVersion: "2026.9.6", migrations: 2 });
    // The Teams plugin moved to 2026.9.6's pin with the image.
    const state = shire.sandbox.inspect() as {
      arm: { resources: { type: string; id: string; properties: { template?: unknown } }[] };
    };
    const app = state.arm.resources.find(
      (resource) => resource.type === "Microsoft.App/containerApps" && resource.id.includes("claw-up-one"),
    )!;
    expect(JSON.stringify(app.properties.template)).toContain("@openclaw/msteams@2026.9.5");
    const slug = await getJson<{ state: string; version: string; lastOperationId: string }>(
      `${shire.url}/api/slugs/up-one`,
    );
    expect(slug.body).toMatchObject({ state: "installed", version: IMAGE("2026.9.6"), lastOperationId: upgraded.id });

    const since = new Date().toISOString();
    // The first upgrade wrote: the snapshot and the app.
    expect(armWritesSince(upgradeStarted).map((request) => request.method)).toEqual(["PUT", "PUT"]);
    const again = await upgrade("up-one", IMAGE("2026.9.6"));
    expect(again.status).toBe("succeeded");
    expect(again.upgrade).toMatchObject({ unchanged: true, fromImage: IMAGE("2026.9.6") });
    expect(again.upgrade!.snapshot).toBeUndefined();
    expect(armWritesSince(since)).toEqual([]);
    expect(footprint("up-one").latestRevisionName).toBe(after.latestRevisionName);
  });

  it("rolls an image that never becomes healthy back, restoring the share from the snapshot, and says why", async () => {
    const installed = await install(shire.url, "up-bad", { image: IMAGE("2026.9.6") });
    expect(installed.status).toBe("succeeded");
    const before = footprint("up-bad");
    shire.sandbox.setFaults({ unhealthyImages: [IMAGE("2026.9.99")] });
    try {
      const failed = await upgrade("up-bad", IMAGE("2026.9.99"));
      expect(failed.status).toBe("failed");
      expect(failed.upgrade).toMatchObject({
        fromImage: IMAGE("2026.9.6"),
        toImage: IMAGE("2026.9.99"),
        migrated: true,
        rollback: { toImage: IMAGE("2026.9.6"), healthy: true, restoredSnapshot: failed.upgrade!.snapshot },
      });
      expect(failed.upgrade!.rollback!.reason).toMatch(
        /health gate failed: revision .* Activating, Unhealthy, not ready within 3 s/,
      );
      expect(failed.message).toContain("rolled back to ghcr.io/openclaw/openclaw:2026.9.6");
      expect(failed.message).toContain(`restored from snapshot ${failed.upgrade!.snapshot}`);
      expect(failed.steps.map((step) => [step.id, step.status])).toEqual([
        ["inspect", "done"],
        ["snapshot", "done"],
        ["containerApp", "done"],
        ["healthGate", "failed"],
        ["rollback", "done"],
        ["rollbackGate", "done"],
      ]);
      const after = footprint("up-bad");
      expect(after.image).toBe(IMAGE("2026.9.6"));
      expect(after.latestReadyRevisionName).toBe(failed.upgrade!.rollback!.revision);
      // The share as the snapshot had it (the 2026.9.99 migration undone), and no migration since.
      expect(after.share).toEqual(before.share);
      const slug = await getJson<{ state: string; version: string }>(`${shire.url}/api/slugs/up-bad`);
      expect(slug.body).toMatchObject({ state: "installed", version: IMAGE("2026.9.6") });
      // The next upgrade rolls back to the app without the restore.
      const next = await upgrade("up-bad", IMAGE("2026.9.5"));
      expect(next.status).toBe("succeeded");
    } finally {
      shire.sandbox.setFaults({ unhealthyImages: [] });
    }
  });

  it("refuses a moving tag, a disallowed registry and a slug that is not installed", async () => {
    const moving = await postJson(`${shire.url}/api/slugs/up-one/upgrade`, {
      image: "ghcr.io/openclaw/openclaw:latest",
    });
    expect(moving.status).toBe(400);
    const registry = await postJson(`${shire.url}/api/slugs/up-one/upgrade`, {
      image: "docker.io/evil/openclaw:2026.9.6",
    });
    expect(registry.status).toBe(400);
    const missing = await postJson(`${shire.url}/api/slugs/up-missing/upgrade`, { image: IMAGE("2026.9.6") });
    expect(missing.status).toBe(409);
  });
});
