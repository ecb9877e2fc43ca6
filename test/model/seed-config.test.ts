/** The init container's seed script: first write, then re-assert only Shire's keys; pinned plugins installed before their wiring. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { seedScript } from "../../src/model/openclaw";

function runSeed(dir: string, config: unknown, extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["-e", seedScript()], {
    env: {
      PATH: process.env.PATH,
      OPENCLAW_CONFIG_PATH: path.join(dir, "openclaw.json"),
      OPENCLAW_SEED_CONFIG: JSON.stringify(config),
      ...extraEnv,
    },
    encoding: "utf8",
  });
}

function seed(dir: string, config: unknown, extraEnv: Record<string, string> = {}) {
  const result = runSeed(dir, config, extraEnv);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(dir, "openclaw.json"), "utf8"));
}

/**
 * A stand-in for the `openclaw.mjs plugins` commands the seed runs: `list --json` (installed
 * plugins from a JSON file next to the config, as origin "global"), `install <spec>|npm-pack:<tgz>`
 * and `update <spec>`. Every call is logged; `fail` makes installs exit non-zero.
 */
function fakeOpenClaw(log: string, options: { fail?: boolean } = {}): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "shire-fake-openclaw-")), "openclaw.cjs");
  fs.writeFileSync(
    file,
    `const fs = require("node:fs"), path = require("node:path");
const args = process.argv.slice(2);
const db = path.join(path.dirname(process.env.OPENCLAW_CONFIG_PATH), "fake-plugins.json");
const plugins = fs.existsSync(db) ? JSON.parse(fs.readFileSync(db, "utf8")) : {};
fs.appendFileSync(${JSON.stringify(log)}, args.join(" ") + "\\n");
if (args[1] === "list") { process.stdout.write(JSON.stringify({ plugins: [{ id: "bundled-one", origin: "bundled", version: "1" }, ...Object.entries(plugins).map(([id, version]) => ({ id, origin: "global", version }))] })); process.exit(0); }
if (${options.fail ? "true" : "false"}) process.exit(3);
// The config must not wire a plugin that is not installed yet (OpenClaw would fetch it itself).
const config = JSON.parse(fs.readFileSync(process.env.OPENCLAW_CONFIG_PATH, "utf8"));
let spec = args[2];
if (spec.startsWith("npm-pack:")) spec = "@openclaw/" + path.basename(spec).replace(/^openclaw-/, "").replace(/-(\\d[\\d.]*)\\.tgz$/, "@$1");
const at = spec.lastIndexOf("@"), id = spec.slice(0, at).split("/").pop(), version = spec.slice(at + 1);
if (args[1] === "install" && plugins[id]) { console.error("plugin already exists"); process.exit(4); }
if (args[1] === "install" && config.channels && config.channels[id]) { console.error("wired before install"); process.exit(5); }
plugins[id] = version;
fs.writeFileSync(db, JSON.stringify(plugins));`,
  );
  return file;
}

describe("seed-config.js", () => {
  it("writes the seed on first start and keeps what the operator or OpenClaw added later", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    const first = seed(dir, { gateway: { mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://a"] } } });
    expect(first.gateway).toEqual({ mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://a"] } });
    // OpenClaw rewrites its config (adds meta); an operator adds an agent model and changes bind.
    fs.writeFileSync(
      path.join(dir, "openclaw.json"),
      JSON.stringify({
        ...first,
        meta: { lastTouched: "x" },
        agents: { defaults: { model: "m" } },
        gateway: { ...first.gateway, bind: "loopback" },
      }),
    );
    const second = seed(dir, { gateway: { mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://b"] } } });
    expect(second.meta).toEqual({ lastTouched: "x" });
    expect(second.agents).toEqual({ defaults: { model: "m" } });
    expect(second.gateway.bind).toBe("lan");
    expect(second.gateway.controlUi.allowedOrigins).toEqual(["https://b"]);
  });

  it("installs the pinned plugins before wiring their channels, updates on a version change, prefers a baked tarball, and fails the revision when it cannot", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    const log = path.join(dir, "..", `${path.basename(dir)}-calls.log`);
    const entry = fakeOpenClaw(log);
    const calls = () =>
      fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .filter((line) => !line.startsWith("plugins list"));
    const config = {
      gateway: { mode: "local" },
      channels: { msteams: { enabled: true } },
      plugins: { entries: { msteams: { enabled: true } } },
    };
    const env = (spec: string, extra: Record<string, string> = {}) => ({
      OPENCLAW_ENTRY: entry,
      OPENCLAW_SEED_PLUGINS: JSON.stringify([{ id: "msteams", spec }]),
      ...extra,
    });
    const first = seed(dir, config, env("@openclaw/msteams@2026.9.5"));
    expect(first.channels.msteams).toEqual({ enabled: true });
    seed(dir, config, env("@openclaw/msteams@2026.9.5"));
    expect(calls()).toEqual(["plugins install @openclaw/msteams@2026.9.5 --pin"]);
    seed(dir, config, env("@openclaw/msteams@2026.9.7"));
    expect(calls().at(-1)).toBe("plugins update @openclaw/msteams@2026.9.7");

    const baked = fs.mkdtempSync(path.join(os.tmpdir(), "shire-baked-"));
    fs.writeFileSync(path.join(baked, "openclaw-msteams-2026.9.5.tgz"), "tarball");
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    seed(fresh, config, env("@openclaw/msteams@2026.9.5", { OPENCLAW_SEED_PLUGIN_ARCHIVES: baked }));
    expect(calls().at(-1)).toBe(
      `plugins install npm-pack:${path.join(baked, "openclaw-msteams-2026.9.5.tgz")} --force`,
    );

    const failing = runSeed(fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-")), config, {
      OPENCLAW_ENTRY: fakeOpenClaw(log, { fail: true }),
      OPENCLAW_SEED_PLUGINS: JSON.stringify([{ id: "msteams", spec: "@openclaw/msteams@2026.9.5" }]),
    });
    expect(failing.status).toBe(1);
    expect(failing.stderr).toContain("installing @openclaw/msteams@2026.9.5 failed");
  });

  it("disables a channel Shire turned off, keeping its settings", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    seed(dir, {
      channels: { msteams: { enabled: true, webhook: { port: 3978 } } },
      plugins: { entries: { msteams: { enabled: true } } },
    });
    const off = seed(
      dir,
      { gateway: { mode: "local" } },
      { OPENCLAW_SEED_DISABLE: JSON.stringify(["channels.msteams", "plugins.entries.msteams", "channels.telegram"]) },
    );
    expect(off.channels.msteams).toEqual({ enabled: false, webhook: { port: 3978 } });
    expect(off.plugins.entries.msteams).toEqual({ enabled: false });
    expect(off.channels.telegram).toBeUndefined();
  });
});
