/**
 * Azurite (Azure Storage emulator) for queue triggers and the app's storage when no
 * AzureWebJobsStorage is configured, as Core Tools would expect the developer to run it.
 * Data persists under the host's state dir so a restarted host finds its queues and blobs.
 *
 * Azurite ends when the process that started it ends, however that ends (stop, a signal, an
 * uncaught error, SIGKILL): a launcher runs in the Azurite process ahead of Azurite and holds
 * a pipe from the host on its stdin; when the host goes the pipe closes and the launcher stops
 * Azurite (Node has no PR_SET_PDEATHSIG). The Azurite's pid is recorded in its location; a host
 * starting on that location ends a recorded Azurite that still runs there (one left by an older
 * host, or one still shutting down after its host was killed) and starts its own, since an
 * Azurite it did not start would not end with it. Two Azurites must never share one location.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/** Azurite's documented well-known development account. */
const ACCOUNT = "devstoreaccount1";
const ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteHandle {
  connectionString: string;
  blobPort: number;
  queuePort: number;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs in the Azurite process before Azurite (`node -e`): its stdin is the host's pipe. When the
 * pipe closes (the host is gone) it sends itself SIGTERM, on which Azurite closes its servers,
 * saves its metadata (it saves every 5 s otherwise) and the process exits; a signal before Azurite
 * is up exits at once; a close that hangs, in 10 s. Its stdout and stderr are pipes to the host
 * too: once the host is gone, writing to them fails (EPIPE), and Azurite's shutdown messages
 * would kill it before it saved, taking the last seconds of writes with it, so those failures
 * are ignored.
 */
const LAUNCHER = [
  "for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);",
  "const [entry, ...args] = process.argv.slice(1);",
  "process.argv = [process.argv[0], entry, ...args];",
  "let ending = false;",
  "const end = (signal) => {",
  "  if (ending) return;",
  "  ending = true;",
  "  process.stdin.destroy();",
  "  if (process.listenerCount(signal) === 1) process.exit(0);",
  "  setTimeout(() => process.exit(0), 10000).unref();",
  "};",
  'process.on("SIGTERM", () => end("SIGTERM")).on("SIGINT", () => end("SIGINT"));',
  'process.stdin.on("close", () => ending || process.kill(process.pid, "SIGTERM")).on("error", () => undefined).resume();',
  "require(entry);",
].join("\n");

const AZURITE_ENTRY = "azurite/dist/src/azurite.js";

/** Where the running Azurite's pid is recorded (in its location, beside its data). */
export function azuritePidFile(location: string): string {
  return path.join(location, "shire-azurite.pid");
}

export interface StartAzuriteOptions {
  log?: (level: string, message: string) => void;
}

export async function startAzurite(location: string, options: StartAzuriteOptions = {}): Promise<AzuriteHandle> {
  location = path.resolve(location);
  fs.mkdirSync(location, { recursive: true });
  await endStaleAzurite(location, options.log);
  const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
  const entry = require.resolve(AZURITE_ENTRY);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "-e",
      LAUNCHER,
      entry,
      "--location",
      location,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(blobPort),
      "--queueHost",
      "127.0.0.1",
      "--queuePort",
      String(queuePort),
      "--tableHost",
      "127.0.0.1",
      "--tablePort",
      String(tablePort),
      "--skipApiVersionCheck",
      "--silent",
      "--disableTelemetry",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  // The launcher exits when this pipe closes; nothing is ever written to it.
  child.stdin!.on("error", () => undefined);
  child.on("error", (error) => (output += `${error.message}\n`));
  const pidFile = azuritePidFile(location);
  if (child.pid !== undefined) fs.writeFileSync(pidFile, `${child.pid}\n`);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(killer);
    }
    if (readPid(pidFile) === child.pid) fs.rmSync(pidFile, { force: true });
  };
  try {
    await waitForPort(queuePort, child, () => output);
    await waitForPort(blobPort, child, () => output);
  } catch (error) {
    await stop();
    throw error;
  }
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${ACCOUNT};QueueEndpoint=http://127.0.0.1:${queuePort}/${ACCOUNT};TableEndpoint=http://127.0.0.1:${tablePort}/${ACCOUNT};`;
  return {
    connectionString,
    blobPort,
    queuePort,
    pid: child.pid!,
    stop,
  };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (an exited process its parent has not reaped yet). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc (macOS): kill(0) is all there is
  }
}

/** The process's command line, or undefined when it cannot be read. */
function commandLine(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    try {
      return execFileSync("ps", ["-ww", "-o", "args=", "-p", String(pid)], { encoding: "utf8" })
        .trim()
        .split(/\s+/);
    } catch {
      return undefined;
    }
  }
}

/** Whether `pid` is an Azurite serving `location` (not a process that was given its pid since). */
export function isAzuriteOn(pid: number, location: string): boolean {
  const args = commandLine(pid);
  if (!args?.some((arg) => arg.replace(/\\/g, "/").endsWith(AZURITE_ENTRY))) return false;
  const at = args.indexOf("--location");
  return at >= 0 && path.resolve(args[at + 1] ?? "") === location;
}

/**
 * The Azurite recorded for `location`, if it still runs there, is ended (SIGTERM, so it saves its
 * data, then SIGKILL after 15 s) before another starts on the same files.
 */
async function endStaleAzurite(location: string, log?: (level: string, message: string) => void): Promise<void> {
  const pidFile = azuritePidFile(location);
  const pid = readPid(pidFile);
  if (pid !== undefined && processAlive(pid) && isAzuriteOn(pid, location)) {
    log?.("warning", `Ending the Azurite (pid ${pid}) still running on ${location} before starting a new one.`);
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ESRCH")
          throw new Error(
            `An Azurite (pid ${pid}) runs on ${location} and cannot be ended: ${(error as Error).message}`,
          );
      }
    };
    // Once: a second SIGTERM would find Azurite's (once) handler gone and kill it mid-save.
    signal("SIGTERM");
    const started = Date.now();
    let killed = false;
    while (processAlive(pid)) {
      if (!killed && Date.now() - started > 15_000) {
        signal("SIGKILL");
        killed = true;
      }
      if (Date.now() - started > 20_000) throw new Error(`The Azurite (pid ${pid}) on ${location} did not end.`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  fs.rmSync(pidFile, { force: true });
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Azurite exited (${child.exitCode}): ${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Azurite did not open port ${port} within 30 s: ${output()}`);
}

export function azuriteLocation(stateDir: string): string {
  return path.join(stateDir, "azurite");
}
