/**
 * The `shire` CLI driving the whole stack as an operator would: `npm start`'s host, sandbox and
 * Azurite in a process group of their own, the CLI in a real terminal (a pty from `script`) for
 * the live display, and in a pipe for scripts (`--json`, exit codes).
 */
import { SANDBOX_SUBSCRIPTION_ID } from "../../src/azure/credential";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../fixtures/install-host";
import { useShireStack, type Stack } from "../fixtures/shire-stack";
import { EXIT, parseArgs, run } from "../../src/cli/main";
import { renderProgress } from "../../src/cli/progress";

const CLI = path.join(REPO_ROOT, "dist/src/cli/main.js");
// A wave and an upgrade's gate look more often than a deployment's defaults (seconds, not minutes).
const startStack = useShireStack({ env: { SHIRE_WAVE_POLL_MS: "300", SHIRE_UPGRADE_GATE_POLL_MS: "250" } });
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(fs.mkdtempSync(path.join(os.tmpdir(), "shire-cli-")));
}, 60_000);

/** The CLI in a pipe: stdout, stderr and its exit code. */
function shire(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [CLI, "--url", stack.url, ...args], {
    encoding: "utf8",
    input,
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The CLI in a real terminal: `script` gives it a pty, as an operator's shell would. */
function shireInTerminal(args: string[]) {
  const command = [process.execPath, CLI, "--url", stack.url, ...args].map((part) => `'${part}'`).join(" ");
  const result = spawnSync("script", ["-qefc", command, "/dev/null"], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, TERM: "xterm-256color", COLUMNS: "120", LINES: "40" },
  });
  return { code: result.status, output: result.stdout };
}

describe("shire, the command line", () => {
  it("drives an install in a terminal with a live display and exits 0", () => {
    const { code, output } = shireInTerminal(["install", "cli-demo"]);
    expect(code, output).toBe(EXIT.done);
    // Redrawn in place (cursor up), a bar that fills, steps running, the end.
    expect(output).toMatch(new RegExp(`${String.fromCharCode(27)}\\[\\d+A`));
    expect(output).toMatch(/\[#{30}\] (\d+)\/\1 done/);
    expect(output).toMatch(/\[#*-+\] \d+\/\d+ done, \d+ running/);
    expect(output).toMatch(/running {2}\S/);
    expect(output).toMatch(/succeeded: Install of cli-demo done/);
  }, 120_000);

  it("answers scripts: --json, the journal, status, a plan with nothing to do", () => {
    const status = shire(["--json", "status", "cli-demo"]);
    expect(status.code).toBe(EXIT.done);
    expect(JSON.parse(status.stdout)).toMatchObject({ slug: "cli-demo", state: "installed" });
    const operations = shire(["--json", "operations", "--slug", "cli-demo", "--kind", "install"]);
    expect(JSON.parse(operations.stdout).operations[0]).toMatchObject({
      slug: "cli-demo",
      kind: "install",
      status: "succeeded",
    });
    const plan = shire(["plan", "cli-demo"]);
    expect(plan.code).toBe(EXIT.done);
    expect(plan.stdout).toMatch(/0 create, 0 update, \d+ unchanged, 0 delete/);
    expect(plan.stdout).toMatch(/^Entra objects: 0 to create, \d+ of 250 used$/m);
    expect(plan.stdout).toContain(`Subscription: ${SANDBOX_SUBSCRIPTION_ID}`);
    // The pool (the broker's own subscription here) with cli-demo's environment counted.
    const placement = shire(["placement", "--region", "westeurope"]);
    expect(placement.code).toBe(EXIT.done);
    expect(placement.stdout).toMatch(
      new RegExp(`^${SANDBOX_SUBSCRIPTION_ID}  room: environments [1-9]\\d*/15 role assignments \\d+/4000$`, "m"),
    );
    expect(placement.stdout).toContain(`next install in westeurope: ${SANDBOX_SUBSCRIPTION_ID}`);
  });

  it("exits 3 with the broker's error on a refused request, 2 on a usage error, 1 on a failed operation", () => {
    const refused = shire(["install", "Bad_Slug"]);
    expect(refused.code).toBe(EXIT.refused);
    expect(refused.stderr).toMatch(/^InvalidRequest: /);
    expect(refused.stderr).toMatch(/slug: must be lowercase/);
    const conflict = shire(["teardown", "cli-demo", "--confirm", "other"]);
    expect(conflict.code).toBe(EXIT.refused);
    expect(shire(["frobnicate"]).code).toBe(EXIT.usage);
    expect(shire(["teardown", "cli-demo"]).stderr).toMatch(/--confirm/);
    // Telegram's token is never given: the install fails, and so does the command.
    const failed = shire(
      ["install", "cli-half", "--spec", "-"],
      JSON.stringify({ channels: { telegram: { enabled: true } } }),
    );
    expect(failed.code, failed.stdout + failed.stderr).toBe(EXIT.failed);
    expect(failed.stdout).toMatch(/failed {2}.*Telegram bot token/);
    expect(failed.stdout).toMatch(/^failed: Install of cli-half failed/m);
  }, 120_000);

  it("writes the slug's Teams app package", () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "shire-cli-teams-")), "app.zip");
    const written = shire(["teams-app", "cli-demo", "--out", out]);
    expect(written.code, written.stderr).toBe(EXIT.done);
    const zip = fs.readFileSync(out);
    expect(zip.subarray(0, 4).toString("binary")).toBe("PK\x03\x04");
    expect(zip.includes(Buffer.from("manifest.json"))).toBe(true);
  });

  it("upgrades a slug and follows it, then rolls a wave picked by a selector back and reads it", async () => {
    const older = "ghcr.io/openclaw/openclaw:2026.9.5";
    const upgraded = shire(["--json", "upgrade", "cli-demo", "--image", older]);
    expect(upgraded.code, upgraded.stdout + upgraded.stderr).toBe(EXIT.done);
    expect(JSON.parse(upgraded.stdout)).toMatchObject({ kind: "upgrade", status: "succeeded" });
    expect(JSON.parse(shire(["--json", "status", "cli-demo"]).stdout)).toMatchObject({ version: older });

    const image = "ghcr.io/openclaw/openclaw:2026.9.6";
    const started = shire([
      "--json",
      "wave",
      "start",
      "--image",
      image,
      "--selector",
      `version=${older},prefix=cli-`,
      "--canary",
      "1",
      "--batch-size",
      "5",
    ]);
    expect(started.code, started.stdout + started.stderr).toBe(EXIT.done);
    const { waveId } = JSON.parse(started.stdout) as { waveId: string };
    let wave: { status: string; slugs: Record<string, { state: string }> } | undefined;
    for (let tries = 0; tries < 240; tries++) {
      const read = shire(["--json", "wave", "status", waveId]);
      expect(read.code, read.stderr).toBe(EXIT.done);
      wave = JSON.parse(read.stdout) as typeof wave;
      if (wave!.status !== "running") break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Only cli-demo runs the older image (cli-half never installed): the wave is that one slug.
    expect(wave).toMatchObject({ status: "succeeded", slugs: { "cli-demo": { state: "done" } } });
    expect(Object.keys(wave!.slugs)).toEqual(["cli-demo"]);
    expect(JSON.parse(shire(["--json", "status", "cli-demo"]).stdout)).toMatchObject({ version: image });

    const bad = shire(["wave", "start", "--image", image, "--selector", "prefix"]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toContain("key=value");
  }, 180_000);

  it("rotates a slug's gateway token and follows it; sets an operator's secret from stdin, never echoing it", () => {
    const rotated = shire(["--json", "rotate", "cli-demo", "--secret", "gateway-token"]);
    expect(rotated.code, rotated.stdout + rotated.stderr).toBe(EXIT.done);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ kind: "rotate", status: "succeeded" });
    const status = JSON.parse(shire(["--json", "status", "cli-demo"]).stdout) as {
      rotation: { secrets: { name: string; state: string; lastResult?: { status: string } }[] };
    };
    expect(status.rotation.secrets.find((secret) => secret.name === "gateway-token")).toMatchObject({
      state: "done",
      lastResult: { status: "succeeded" },
    });

    // cli-half's install failed waiting for exactly this secret: it is written, and nothing restarts.
    const token = "123456789:cli-test-telegram-token-never-printed";
    const set = shire(["secrets", "set", "cli-half", "telegram-bot-token"], `${token}\n`);
    expect(set.code, set.stdout + set.stderr).toBe(EXIT.done);
    expect(set.stdout).toMatch(/^set telegram-bot-token \(version \w+\)/);
    expect(set.stdout + set.stderr).not.toContain(token);
    const notSupplied = shire(["secrets", "set", "cli-demo", "gateway-token"], "x");
    expect(notSupplied.code).toBe(EXIT.refused);
  }, 180_000);

  it("tears down with purge and follows it to the end", () => {
    const torn = shire(["teardown", "cli-demo", "--confirm", "cli-demo", "--purge"]);
    expect(torn.code, torn.stdout + torn.stderr).toBe(EXIT.done);
    expect(JSON.parse(shire(["--json", "status", "cli-demo"]).stdout)).toMatchObject({ state: "destroyed" });
  }, 120_000);
});

describe("the CLI's parts", () => {
  it("parses flags with values, repeated flags and booleans, and refuses a missing value", async () => {
    expect(parseArgs(["rotate", "a", "--secret", "x", "--secret=y", "--json"])).toEqual({
      positional: ["rotate", "a"],
      flags: new Map([
        ["secret", ["x", "y"]],
        ["json", ["true"]],
      ]),
    });
    const errors: string[] = [];
    const io = {
      stdout: { isTTY: false, write: () => undefined },
      stderr: { write: (text: string) => void errors.push(text) },
      env: {},
      readStdin: () => "",
    };
    expect(await run(["install", "x", "--image"], io)).toBe(EXIT.usage);
    expect(errors.join("")).toMatch(/--image needs a value/);
  });

  it("draws a bar from the steps", () => {
    const lines = renderProgress(
      {
        id: "op",
        slug: "s",
        kind: "install",
        status: "running",
        message: "",
        createdAt: new Date(0).toISOString(),
        steps: [
          { id: "a", status: "done" },
          { id: "b", status: "running", attempts: 2, retryAt: "2026-12-04T10:00:05.000Z", error: "Throttled" },
          { id: "c", status: "pending" },
          { id: "d", status: "failed", error: "boom" },
        ],
      },
      42_000,
      8,
    );
    expect(lines[1]).toBe("[##------] 1/4 done, 1 running, 1 failed  42s");
    expect(lines[2]).toBe("  running  b waiting, attempt 3 at 10:00:05 (Throttled)");
    expect(lines[3]).toBe("  failed   d: boom");
  });
});
