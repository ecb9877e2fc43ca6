/**
 * The sandbox CLI puts an operator secret into a vault of a running sandbox found through the
 * state directory `npm start` uses (`<dir>/sandbox/endpoint.json`), with the value from a file
 * or standard input, never from an argument, and never printed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { useSandbox } from "../fixtures/sandbox";
import { grantBroker, vault } from "./helpers";

const REPO_ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(REPO_ROOT, "dist/src/sandbox/cli.js");
/** The directory `npm start --state-dir` would be given: the sandbox lives in its `sandbox/`. */
const hostStateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-cli-"));

const azure = useSandbox({ stateDir: path.join(hostStateDir, "sandbox") });
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("claw-tele", { location: "westeurope" });
  const created = await vault(azure, "claw-tele", "kv-tele-ab1cd");
  // What the install's role step gives the broker on a slug vault.
  await grantBroker(azure, created.id!, "7c000000-0000-4000-8000-000000000001");
});

function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin ?? "");
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

describe("secret set", () => {
  it("writes a value from standard input or a file, as a new version, and never prints it", async () => {
    const token = "123456:telegram-token-from-botfather";
    const piped = await run(
      ["secret", "set", "--state-dir", hostStateDir, "--vault", "kv-tele-ab1cd", "--name", "telegram-bot-token"],
      `${token}\n`,
    );
    expect(piped, piped.stderr).toMatchObject({ code: 0 });
    expect(piped.stdout).toMatch(/^Set telegram-bot-token in vault kv-tele-ab1cd \(version [0-9a-f]+\)\.\n$/);
    expect(azure.sandbox.keyVault.readSecretValue("kv-tele-ab1cd", "telegram-bot-token")).toBe(token);

    const file = path.join(hostStateDir, "token.txt");
    fs.writeFileSync(file, "654321:another-token\r\n");
    const fromFile = await run([
      "secret",
      "set",
      "--state-dir",
      hostStateDir,
      "--vault",
      "kv-tele-ab1cd",
      "--name",
      "telegram-bot-token",
      "--file",
      file,
    ]);
    expect(fromFile, fromFile.stderr).toMatchObject({ code: 0 });
    expect(azure.sandbox.keyVault.readSecretValue("kv-tele-ab1cd", "telegram-bot-token")).toBe("654321:another-token");
    const inspected = (azure.sandbox.inspect().keyvault as Record<string, Record<string, { versions: unknown[] }>>)[
      "kv-tele-ab1cd"
    ]["telegram-bot-token"];
    expect(inspected.versions).toHaveLength(2);
    for (const output of [piped.stdout, piped.stderr, fromFile.stdout, fromFile.stderr]) {
      expect(output).not.toContain(token);
      expect(output).not.toContain("another-token");
    }
  });

  it("takes no value as an argument, and says what is wrong when there is no vault or no sandbox", async () => {
    const asArgument = await run([
      "secret",
      "set",
      "--state-dir",
      hostStateDir,
      "--vault",
      "kv-tele-ab1cd",
      "--name",
      "x",
      "--value",
      "in-the-history",
    ]);
    expect(asArgument.code).toBe(2);
    expect(asArgument.stderr).toContain("--value is not taken");
    expect(azure.sandbox.keyVault.readSecretValue("kv-tele-ab1cd", "x")).toBeUndefined();

    const noVault = await run(
      ["secret", "set", "--state-dir", hostStateDir, "--vault", "kv-nowhere", "--name", "telegram-bot-token"],
      "value-for-nowhere",
    );
    expect(noVault.code).toBe(1);
    expect(noVault.stderr).toMatch(/Could not set the secret: .*kv-nowhere/);
    expect(noVault.stderr).not.toContain("value-for-nowhere");

    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "shire-cli-empty-"));
    const noSandbox = await run(
      ["secret", "set", "--state-dir", empty, "--vault", "kv-tele-ab1cd", "--name", "telegram-bot-token"],
      "value",
    );
    expect(noSandbox.code).toBe(1);
    expect(noSandbox.stderr).toContain(`No sandbox found in ${empty}`);
  });
});
