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
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { resolveReferences } from "../../src/contract/reference";
import { OPENCLAW_PORTS, OPENCLAW_STATE_MOUNT } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";

const OPENCLAW_DIR = process.env.SHIRE_OPENCLAW_DIR ?? path.join(os.homedir(), ".cache", "shire-openclaw");
const NODE24 = path.join(OPENCLAW_DIR, "node24", "node_modules", ".bin", "node");
const NEW = path.join(OPENCLAW_DIR, "app", "node_modules", "openclaw", "openclaw.mjs");
const OLD = path.join(OPENCLAW_DIR, "app-2026.9.5", "node_modules", "openclaw", "openclaw.mjs");

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env: { name: string; value?: string; secretRef?: string }[];
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "shire-upgrade-"));
const stateDir = path.join(work, "state");
const children: ChildProcess[] = [];
const output: Record<string, string[]> = {};

function template(image: string): { seed: Container; gateway: Container } {
  const validation = validateInstallRequest("upgrade", { image, channels: { teams: { enabled: false } } });
  if (!validation.ok) throw new Error("spec invalid");
  const plan = planSlug(validation.spec, {
    subscriptionId: "00000000-0000-4000-8000-000000000001",
    tenantId: "00000000-0000-4000-8000-0000000000aa",
    brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
  });
  const node = plan.nodes.find((candidate) => candidate.id === "containerApp")!;
  const desired = resolveReferences(node.desired as never, {
    managedEnvironment: { resourceId: "/env", defaultDomain: "upgrade.westeurope.azurecontainerapps.io" },
    entraApp: { appId: "11111111-1111-4111-8111-111111111111", applicationObjectId: "x", servicePrincipalId: "y" },
  }) as { template: { initContainers: Container[]; containers: Container[] } };
  return { seed: desired.template.initContainers[0], gateway: desired.template.containers[0] };
}

function envFor(container: Container, revision: string, port?: number): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
    HOME: path.join(work, "home"),
    CONTAINER_APP_REPLICA_NAME: revision,
    CONTAINER_APP_REVISION: revision,
  };
  for (const entry of container.env)
    env[entry.name] = (entry.secretRef ? "upgrade-test-gateway-token-0123456789" : String(entry.value))
      .split(OPENCLAW_STATE_MOUNT)
      .join(stateDir);
  if (port) env.OPENCLAW_GATEWAY_PORT = String(port);
  return env;
}

function start(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(NODE24, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  output[name] = [];
  const keep = (chunk: Buffer) => output[name].push(chunk.toString());
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  children.push(child);
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve(child.exitCode)
      : child.on("exit", (code) => resolve(code)),
  );

const logs = () =>
  Object.entries(output)
    .map(([name, lines]) => `--- ${name}\n${lines.join("").slice(-3000)}`)
    .join("\n");

async function getJson(port: number, route: string): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`);
    return { ...((await response.json()) as Record<string, unknown>), httpStatus: response.status };
  } catch {
    return undefined;
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function query(database: string, sql: string): Record<string, unknown>[] {
  const result = spawnSync(
    NODE24,
    [
      "-e",
      `const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(process.argv[1], { readOnly: true }); console.log(JSON.stringify(db.prepare(process.argv[2]).all()));`,
      database,
      sql,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
}

/** Run one revision: its seed (to completion), then its gateway until it answers live. */
async function revision(
  name: string,
  image: string,
  entry: string,
): Promise<{ gateway: ChildProcess; port: number; seedOutput: string }> {
  const { seed, gateway } = template(image);
  const seeded = spawnSync(NODE24, seed.command!.slice(1), {
    env: { ...envFor(seed, name), OPENCLAW_ENTRY: entry },
    encoding: "utf8",
    timeout: 240_000,
  });
  expect(seeded.status, `${seeded.stdout}\n${seeded.stderr}`).toBe(0);
  const port = await freePort();
  const args = gateway
    .args!.slice(1)
    .map((arg) => (arg === "openclaw.mjs" ? entry : arg === String(OPENCLAW_PORTS.gateway) ? String(port) : arg));
  const child = start(name, args, envFor(gateway, name, port));
  await until(
    `${name}'s gateway`,
    async () => ((await getJson(port, "/healthz"))?.httpStatus === 200 ? true : undefined),
    180_000,
  );
  return { gateway: child, port, seedOutput: `${seeded.stdout}${seeded.stderr}` };
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await Promise.race([Promise.all(children.map(exited)), new Promise((resolve) => setTimeout(resolve, 30_000))]);
  for (const child of children)
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
});

describe("an upgrade of the real OpenClaw gateway", () => {
  it("migrates 2026.9.5's state with doctor --fix in the new revision's seed, and 2026.9.6 comes up healthy on it", async () => {
    for (const entry of [OLD, NEW])
      expect(fs.existsSync(entry), `OpenClaw is not installed at ${entry}: run bash scripts/setup-openclaw.sh`).toBe(
        true,
      );
    fs.mkdirSync(path.join(work, "home"), { recursive: true });
    fs.mkdirSync(stateDir, { recursive: true });

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
    const ready = await until(
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
