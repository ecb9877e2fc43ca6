/** The init container's seed script: first write, then re-assert only Shire's keys; baked plugins copied once. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { seedScript } from "../../src/model/openclaw";

function seed(dir: string, config: unknown, extraEnv: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["-e", seedScript()], { env: { PATH: process.env.PATH, OPENCLAW_CONFIG_PATH: path.join(dir, "openclaw.json"), OPENCLAW_SEED_CONFIG: JSON.stringify(config), ...extraEnv }, encoding: "utf8" });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(fs.readFileSync(path.join(dir, "openclaw.json"), "utf8"));
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
});
