/**
 * The seed init container's part in an upgrade: `openclaw doctor --fix` once when the OpenClaw
 * version changes (never on a new state, never twice), and a rolled-back revision's restore of the
 * state from the snapshot mount, once per snapshot. Also the rollback revision's template.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { seedScript } from "../../src/model/openclaw";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import type { ContainerAppDesired } from "../../src/contract/resources";
import {
  gatewayImageOf,
  migratesState,
  snapshotMountTime,
  withStateRestore,
  withoutStateRestore,
} from "../../src/model/upgrade";

/** A stand-in `openclaw.mjs` of `version` (its package.json beside it) that logs every call. */
function fakeOpenClaw(version: string, log: string, exitCode = 0): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-fake-oc-"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "openclaw", version }));
  const entry = path.join(dir, "openclaw.mjs");
  fs.writeFileSync(
    entry,
    `import fs from "node:fs"; fs.appendFileSync(${JSON.stringify(log)}, process.argv.slice(2).join(" ") + "\\n"); process.exit(${exitCode});`,
  );
  return entry;
}

function runSeed(stateDir: string, entry: string, extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["-e", seedScript()], {
    env: {
      PATH: process.env.PATH,
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_CONFIG_PATH: path.join(stateDir, "openclaw.json"),
      OPENCLAW_SEED_CONFIG: JSON.stringify({ gateway: { mode: "local" } }),
      OPENCLAW_ENTRY: entry,
      ...extraEnv,
    },
    encoding: "utf8",
  });
}

const calls = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);

describe("seed-config.js in an upgrade", () => {
  it("runs doctor --fix once when the version changes, not on a new state, and fails the revision when it fails", () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "shire-state-"));
    const log = path.join(state, "..", `${path.basename(state)}.log`);
    const old = fakeOpenClaw("2026.9.5", log);
    expect(runSeed(state, old).status).toBe(0);
    expect(calls(log)).toEqual([]); // a new state: nothing to migrate
    expect(fs.readFileSync(path.join(state, ".shire", "openclaw-version"), "utf8").trim()).toBe("2026.9.5");
    expect(runSeed(state, old).status).toBe(0);
    expect(calls(log)).toEqual([]);

    const next = fakeOpenClaw("2026.9.6", log);
    const upgraded = runSeed(state, next);
    expect(upgraded.status, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toContain("OpenClaw 2026.9.5 -> 2026.9.6: openclaw doctor --fix");
    expect(calls(log)).toEqual(["doctor --fix --non-interactive --no-workspace-suggestions"]);
    expect(runSeed(state, next).status).toBe(0); // a restart of the same revision: no second run
    expect(calls(log)).toHaveLength(1);

    const broken = fakeOpenClaw("2026.9.7", log, 2);
    const failed = runSeed(state, broken);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain("openclaw doctor --fix failed (exit 2)");
    // Not marked: the next start tries again.
    expect(fs.readFileSync(path.join(state, ".shire", "openclaw-version"), "utf8").trim()).toBe("2026.9.6");
  });

  it("restores the state from the snapshot mount once, keeping later changes on a restart", () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "shire-state-"));
    const log = path.join(state, "..", `${path.basename(state)}.log`);
    const snapshot = fs.mkdtempSync(path.join(os.tmpdir(), "shire-snapshot-"));
    fs.mkdirSync(path.join(snapshot, "state"));
    fs.writeFileSync(path.join(snapshot, "state", "openclaw.sqlite"), "before");
    fs.writeFileSync(path.join(snapshot, "openclaw.json"), JSON.stringify({ gateway: { mode: "local" }, mine: 1 }));
    fs.mkdirSync(path.join(snapshot, ".shire"));
    fs.writeFileSync(path.join(snapshot, ".shire", "openclaw-version"), "2026.9.5\n");
    // The state as the failed upgrade left it: migrated by 2026.9.99, a file that did not exist before.
    fs.mkdirSync(path.join(state, "state"));
    fs.writeFileSync(path.join(state, "state", "openclaw.sqlite"), "migrated");
    fs.writeFileSync(path.join(state, "new-file"), "x");
    fs.writeFileSync(path.join(state, "openclaw.json"), "{}");
    fs.mkdirSync(path.join(state, ".shire"));
    fs.writeFileSync(path.join(state, ".shire", "openclaw-version"), "2026.9.99\n");
    const env = { OPENCLAW_RESTORE_SNAPSHOT: "2026-12-04T20:10:17.1234567Z", OPENCLAW_RESTORE_FROM: snapshot };
    const old = fakeOpenClaw("2026.9.5", log);
    const restored = runSeed(state, old, env);
    expect(restored.status, restored.stderr).toBe(0);
    expect(restored.stdout).toContain("restored the state from snapshot 2026-12-04T20:10:17.1234567Z");
    expect(fs.readFileSync(path.join(state, "state", "openclaw.sqlite"), "utf8")).toBe("before");
    expect(fs.existsSync(path.join(state, "new-file"))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(state, "openclaw.json"), "utf8")).mine).toBe(1);
    // The snapshot's version is the state's again: the old image has nothing to migrate.
    expect(calls(log)).toEqual([]);

    fs.writeFileSync(path.join(state, "state", "openclaw.sqlite"), "after the rollback");
    const restarted = runSeed(state, old, env);
    expect(restarted.stdout).toContain("restored before; keeping the state");
    expect(fs.readFileSync(path.join(state, "state", "openclaw.sqlite"), "utf8")).toBe("after the rollback");
  });
});

describe("the rollback revision's template", () => {
  const spec = validateInstallRequest("demo", {});
  if (!spec.ok) throw new Error("spec");
  const plan = planSlug(spec.spec, {
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    tenantId: "00000000-0000-0000-0000-000000000002",
    brokerPrincipalId: "00000000-0000-0000-0000-000000000003",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
  });
  const app = plan.nodes.find((node) => node.kind === "containerApp")!.desired as ContainerAppDesired;

  it("mounts the snapshot read-only for the seed with the exact snapshot time, and comes off again", () => {
    expect(snapshotMountTime("2026-12-04T20:10:17.1234567Z")).toBe("134408886171234567");
    expect(snapshotMountTime("1601-01-01T00:00:00Z")).toBe("0");
    const restoring = withStateRestore(app, "2026-12-04T20:10:17.1234567Z");
    const seed = restoring.template.initContainers!.find((container) => container.name === "seed-config")!;
    expect(seed.env).toContainEqual({ name: "OPENCLAW_RESTORE_SNAPSHOT", value: "2026-12-04T20:10:17.1234567Z" });
    expect(seed.volumeMounts).toContainEqual({
      volumeName: "openclaw-state-snapshot",
      mountPath: "/mnt/openclaw-state-snapshot",
    });
    const volume = restoring.template.volumes!.find((candidate) => candidate.name === "openclaw-state-snapshot")!;
    expect(volume.mountOptions).toMatch(/,ro,snapshot=134408886171234567$/);
    // The gateway never sees the snapshot.
    expect(JSON.stringify(restoring.template.containers)).not.toContain("snapshot");
    expect(withoutStateRestore(restoring)).toEqual(app);
    expect(
      withStateRestore(withStateRestore(app, "2026-12-04T20:10:17.1234567Z"), "2026-12-05T00:00:00.0000001Z"),
    ).toEqual(withStateRestore(app, "2026-12-05T00:00:00.0000001Z"));
  });

  it("knows which moves migrate the state", () => {
    expect(gatewayImageOf(app)).toBe("ghcr.io/openclaw/openclaw:2026.9.6");
    expect(migratesState("ghcr.io/openclaw/openclaw:2026.9.5", "ghcr.io/openclaw/openclaw:2026.9.6")).toBe(true);
    expect(migratesState("ghcr.io/openclaw/openclaw:2026.9.6", "ghcr.io/openclaw/openclaw:2026.9.6-1")).toBe(false);
    expect(
      migratesState("ghcr.io/openclaw/openclaw:2026.9.6", "ghcr.io/openclaw/openclaw@sha256:" + "a".repeat(64)),
    ).toBe(true);
  });
});
