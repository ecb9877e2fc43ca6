/** `cli.js start`: expected start-up failures are one line on stderr (and the usage), never a stack. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FunctionsHost } from "../../src/runtime/host";
import { REPO_ROOT } from "../e2e/harness";

const APP = path.resolve(__dirname, "../fixtures/catchall-app");
const USAGE = /^usage: cli\.js start \[--port 7071\]/;
let busy: net.Server;
let busyPort: number;

beforeAll(async () => {
  busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()));
  busyPort = (busy.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

async function cli(args: string[], appRoot = APP): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "dist/src/runtime/cli.js"), ...args], {
    cwd: appRoot,
    env: { ...process.env, AzureWebJobsStorage: "", SHIRE_CLOUD: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr };
}

const stateDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "shire-cli-"));

describe("cli.js start", () => {
  it.each([
    ["with the sandbox", []],
    ["without the sandbox", ["--no-sandbox"]],
  ])("on a busy port says so in one line and exits 1, before starting anything (%s)", async (_, extra) => {
    const result = await cli(["start", "--port", String(busyPort), "--state-dir", stateDir(), ...extra]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`Port ${busyPort} is in use (another Shire host?): stop it or pass --port <n>.\n`);
    expect(result.stdout).toBe("");
  });

  it.each([
    [["--sandbox-faults", "{oops"], /^--sandbox-faults: '\{oops' is neither none\|realistic\|flaky nor JSON\.$/],
    [["--sandbox-faults", "[1]"], /^--sandbox-faults: '\[1\]' is not a JSON object of fault settings\.$/],
    [["--nope"], /^Unknown option '--nope'\.$/],
    [["--port", "http"], /^--port takes a port number \(0 to 65535\), not 'http'\.$/],
    [["--port", "70000"], /^--port takes a port number/],
    [["--state-dir"], /^--state-dir needs a value\.$/],
  ])("refuses %j with one line and the usage, exit 2", async (args, message) => {
    const result = await cli(["start", ...args]);
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(message);
    expect(lines[1]).toMatch(USAGE);
    expect(result.stdout).toBe("");
  });

  it("refuses no command or another command with the usage", async () => {
    for (const args of [[], ["stop"]]) {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split("\n")[1]).toMatch(USAGE);
    }
  });

  it("says what is wrong with an app it cannot serve, without a stack", async () => {
    const result = await cli(
      ["start", "--port", "0", "--no-sandbox", "--state-dir", stateDir()],
      path.resolve(__dirname, "../fixtures/unsupported-app"),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^The app declares bindings the local host does not implement/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it("fails a host whose port is taken with the same message (the port was free when checked)", async () => {
    delete process.env.AzureWebJobsStorage;
    const host = new FunctionsHost({
      appRoot: APP,
      port: busyPort,
      stateDir: stateDir(),
      storageConnectionString:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1",
      log: () => undefined,
    });
    await expect(host.start()).rejects.toThrow(
      `Port ${busyPort} is in use (another Shire host?): stop it or pass --port <n>.`,
    );
  });
});
