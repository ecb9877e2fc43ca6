/**
 * An upgrade with the real OpenClaw gateway: 2026.9.5 runs on a state directory as a slug's
 * revision runs it (the seed init container, then the gateway container, from the generated
 * template under the state lease supervisor), then the 2026.9.6 revision's seed migrates that
 * state (`openclaw doctor --fix`, because the version changed) and its gateway comes up healthy
 * (readiness answering `ready: true` in its JSON body) on the earlier state: the same device
 * identity, the operator's config kept. The Azure Files mount becomes a temp dir.
 * Needs `bash scripts/setup-openclaw.sh` (npm run test:container does it): 2026.9.6 in
 * `<dir>/app`, 2026.9.5 beside it in `<dir>/app-2026.9.5`.
 */
import fs from "node:fs";
import path from "node:path";
import { spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { OPENCLAW_PORTS } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";
import { NODE24, Replicas, exited, openclawEntry, query, slugContainers } from "./replicas";

const NEW = openclawEntry();
const OLD = openclawEntry("2026.9.5");
// One replica at a time here: no host names of their own needed.
const replicas = new Replicas("shire-upgrade-", { ownHostNames: false });
const { stateDir } = replicas;
const logs = () => replicas.logs();

async function getJson(port: number, route: string): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`);
    return { ...((await response.json()) as Record<string, unknown>), httpStatus: response.status };
  } catch {
    return undefined;
  }
}

/** Run one revision: its seed (to completion), then its gateway until it answers live. */
async function revision(
  name: string,
  image: string,
  entry: string,
): Promise<{ gateway: ChildProcess; port: number; seedOutput: string }> {
  const { seed, gateway } = slugContainers("upgrade", image);
  const seeded = spawnSync(NODE24, seed.command!.slice(1), {
    env: { ...replicas.envFor(seed, name, name), OPENCLAW_ENTRY: entry },
    encoding: "utf8",
    timeout: 240_000,
  });
  expect(seeded.status, `${seeded.stdout}\n${seeded.stderr}`).toBe(0);
  const port = await freePort();
  const args = gateway
    .args!.slice(1)
    .map((arg) => (arg === "openclaw.mjs" ? entry : arg === String(OPENCLAW_PORTS.gateway) ? String(port) : arg));
  const child = replicas.start(name, name, args, replicas.envFor(gateway, name, name, port));
  await replicas.until(
    `${name}'s gateway`,
    async () => ((await getJson(port, "/healthz"))?.httpStatus === 200 ? true : undefined),
    180_000,
  );
  return { gateway: child, port, seedOutput: `${seeded.stdout}${seeded.stderr}` };
}

afterAll(() => replicas.stopAll());

describe("an upgrade of the real OpenClaw gateway", () => {
  it("migrates 2026.9.5's state with doctor --fix in the new revision's seed, and 2026.9.6 comes up healthy on it", async () => {
    for (const entry of [OLD, NEW])
      expect(fs.existsSync(entry), `OpenClaw is not installed at ${entry}: run bash scripts/setup-openclaw.sh`).toBe(
        true,
      );

    // The 2026.9.5 revision: seeded (a new state: nothing to migrate), running.
    const old = await revision("openclaw--old", "ghcr.io/openclaw/openclaw:2026.9.5", OLD);
    expect(old.seedOutput).not.toContain("doctor --fix");
    expect(fs.readFileSync(path.join(stateDir, ".shire", "openclaw-version"), "utf8").trim()).toBe("2026.9.5");
    const database = path.join(stateDir, "state", "openclaw.sqlite");
    const identity = query(database, "SELECT device_id, public_key_pem FROM device_identities");
    expect(identity).toHaveLength(1);
    // The operator changes the config (a key Shire does not manage): it must survive the upgrade.
    const config = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(
      path.join(stateDir, "openclaw.json"),
      JSON.stringify({ ...config, ui: { ...(config.ui as object), seamColor: "#FF4500" } }, null, 2),
    );

    // Container Apps retires the old revision once the new one is ready; here it stops first.
    old.gateway.kill("SIGTERM");
    expect(await exited(old.gateway), logs()).toBe(0);

    // The 2026.9.6 revision: its seed migrates the state, its gateway starts on it.
    const next = await revision("openclaw--new", "ghcr.io/openclaw/openclaw:2026.9.6", NEW);
    expect(next.seedOutput).toContain("OpenClaw 2026.9.5 -> 2026.9.6: openclaw doctor --fix");
    expect(fs.readFileSync(path.join(stateDir, ".shire", "openclaw-version"), "utf8").trim()).toBe("2026.9.6");
    const ready = await replicas.until(
      "the new gateway's readiness",
      async () => {
        const body = await getJson(next.port, "/readyz");
        return body?.httpStatus === 200 && body.ready === true ? body : undefined;
      },
      180_000,
    );
    expect(ready.ready).toBe(true);
    // Its earlier state: the same device identity, the operator's config.
    expect(query(database, "SELECT device_id, public_key_pem FROM device_identities")).toEqual(identity);
    const after = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8")) as {
      ui?: { seamColor?: string };
      gateway?: unknown;
    };
    expect(after.ui?.seamColor).toBe("#FF4500");
    expect(after.gateway).toMatchObject({ mode: "local", bind: "lan" });
    expect(query(database, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
    next.gateway.kill("SIGTERM");
    expect(await exited(next.gateway), logs()).toBe(0);
  });
});
