/** The init container's seed script: first write, then re-assert only Shire's keys; baked plugins copied once. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { seedScript } from "../../src/model/openclaw";

function runSeed(dir: string, config: unknown, extraEnv: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["-e", seedScript()], { env: { PATH: process.env.PATH, OPENCLAW_CONFIG_PATH: path.join(dir, "openclaw.json"), OPENCLAW_SEED_CONFIG: JSON.stringify(config), ...extraEnv }, encoding: "utf8" });
}

function seed(dir: string, config: unknown, extraEnv: Record<string, string> = {}) {
  const result = runSeed(dir, config, extraEnv);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(dir, "openclaw.json"), "utf8"));
}

/**
 * A stand-in for `openclaw.mjs plugins install <spec>`: records each call and installs the
 * package where OpenClaw does (npm/projects/<id>/node_modules/<name>) in the config's directory.
 */
function fakeOpenClaw(log: string, options: { fail?: boolean } = {}): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "shire-fake-openclaw-")), "openclaw.cjs");
  fs.writeFileSync(
    file,
    `const fs = require("node:fs"), path = require("node:path");
const [command, sub, spec] = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, [command, sub, spec].join(" ") + "\\n");
if (${options.fail ? "true" : "false"}) process.exit(3);
const at = spec.lastIndexOf("@"), name = spec.slice(0, at), version = spec.slice(at + 1);
const dir = path.join(path.dirname(process.env.OPENCLAW_CONFIG_PATH), "npm", "projects", "p1", "node_modules", ...name.split("/"));
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version }));`,
  );
  return file;
}

describe("seed-config.js", () => {
  it("writes the seed on first start and keeps what the operator or OpenClaw added later", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    const first = seed(dir, { gateway: { mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://a"] } } });
    expect(first.gateway).toEqual({ mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://a"] } });
    // OpenClaw rewrites its config (adds meta); an operator adds an agent model and changes bind.
    fs.writeFileSync(path.join(dir, "openclaw.json"), JSON.stringify({ ...first, meta: { lastTouched: "x" }, agents: { defaults: { model: "m" } }, gateway: { ...first.gateway, bind: "loopback" } }));
    const second = seed(dir, { gateway: { mode: "local", bind: "lan", controlUi: { allowedOrigins: ["https://b"] } } });
    expect(second.meta).toEqual({ lastTouched: "x" });
    expect(second.agents).toEqual({ defaults: { model: "m" } });
    expect(second.gateway.bind).toBe("lan");
    expect(second.gateway.controlUi.allowedOrigins).toEqual(["https://b"]);
  });

  it("copies plugins baked into the image onto an empty share, once", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    const baked = fs.mkdtempSync(path.join(os.tmpdir(), "shire-baked-"));
    fs.mkdirSync(path.join(baked, "npm", "projects"), { recursive: true });
    fs.writeFileSync(path.join(baked, "npm", "projects", "msteams.json"), "{}");
    seed(dir, {}, { OPENCLAW_SEED_PLUGINS_DIR: baked });
    expect(fs.existsSync(path.join(dir, "npm", "projects", "msteams.json"))).toBe(true);
    fs.writeFileSync(path.join(dir, "npm", "projects", "msteams.json"), '{"updated":true}');
    seed(dir, {}, { OPENCLAW_SEED_PLUGINS_DIR: baked });
    expect(fs.readFileSync(path.join(dir, "npm", "projects", "msteams.json"), "utf8")).toBe('{"updated":true}');
  });

  it("installs the pinned plugins onto the share once, reinstalls on a version change, and fails the revision when it cannot", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    const log = path.join(dir, "..", `${path.basename(dir)}-calls.log`);
    const entry = fakeOpenClaw(log);
    const env = (plugins: string[]) => ({ OPENCLAW_ENTRY: entry, OPENCLAW_SEED_PLUGINS: JSON.stringify(plugins) });
    seed(dir, {}, env(["@openclaw/msteams@2026.9.5"]));
    seed(dir, {}, env(["@openclaw/msteams@2026.9.5"]));
    expect(fs.readFileSync(log, "utf8").trim().split("\n")).toEqual(["plugins install @openclaw/msteams@2026.9.5"]);
    seed(dir, {}, env(["@openclaw/msteams@2026.9.7"]));
    expect(fs.readFileSync(log, "utf8").trim().split("\n")).toHaveLength(2);

    const failing = runSeed(fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-")), {}, { OPENCLAW_ENTRY: fakeOpenClaw(log, { fail: true }), OPENCLAW_SEED_PLUGINS: JSON.stringify(["@openclaw/msteams@2026.9.5"]) });
    expect(failing.status).toBe(1);
    expect(failing.stderr).toContain("installing @openclaw/msteams@2026.9.5 failed");
  });

  it("disables a channel Shire turned off, keeping its settings", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-seed-"));
    seed(dir, { channels: { msteams: { enabled: true, webhook: { port: 3978 } } }, plugins: { entries: { msteams: { enabled: true } } } });
    const off = seed(dir, { gateway: { mode: "local" } }, { OPENCLAW_SEED_DISABLE: JSON.stringify(["channels.msteams", "plugins.entries.msteams", "channels.telegram"]) });
    expect(off.channels.msteams).toEqual({ enabled: false, webhook: { port: 3978 } });
    expect(off.plugins.entries.msteams).toEqual({ enabled: false });
    expect(off.channels.telegram).toBeUndefined();
  });
});
