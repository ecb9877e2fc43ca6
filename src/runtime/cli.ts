#!/usr/bin/env node
/**
 * `node dist/src/runtime/cli.js start [--port 7071] [--state-dir .shire] [--no-sandbox]
 *   [--sandbox-faults none|realistic|flaky|<json>] [--sandbox-log <file>]`
 *
 * Runs the app in the current directory (package.json "main") on the local Functions host. Unless
 * told otherwise (or SHIRE_CLOUD names a real cloud) it first starts the sandbox, the emulated
 * Azure the app then talks to, and hands its endpoint and CA to the app through app settings.
 *
 * An expected failure is one line on stderr: a command line it does not take (then the usage;
 * exit 2), a busy port, an app it cannot serve, a state dir it cannot write (exit 1). Anything
 * else is a bug and keeps its stack.
 */
import net from "node:net";
import path from "node:path";
import { FunctionsHost } from "./host";
import { HostStartError, listenError } from "./start-error";
import type { SandboxFaultSettings } from "../sandbox/faults";

type SandboxFaults = Partial<SandboxFaultSettings>;

const USAGE =
  "usage: cli.js start [--port 7071] [--state-dir .shire] [--no-sandbox] [--sandbox-faults none|realistic|flaky|<json>] [--sandbox-log <file>] [--auth strict|development]";

/** A command line this CLI does not take: its message, then the usage, exit 2. */
class UsageError extends Error {
  override name = "UsageError";
}

interface CliOptions {
  port: number;
  stateDir: string;
  sandbox: boolean;
  sandboxFaults?: string;
  sandboxLog?: string;
  /** `strict`: a request without x-ms-client-principal is refused (401) instead of acting as the development admin. */
  auth?: "strict" | "development";
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { port: 7071, stateDir: path.resolve(".shire"), sandbox: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value.`);
      return next;
    };
    if (arg === "--port") {
      const port = value();
      if (!/^\d{1,5}$/.test(port) || Number(port) > 65535)
        throw new UsageError(`--port takes a port number (0 to 65535), not '${port}'.`);
      options.port = Number(port);
    } else if (arg === "--state-dir") options.stateDir = path.resolve(value());
    else if (arg === "--no-sandbox") options.sandbox = false;
    else if (arg === "--sandbox-faults") options.sandboxFaults = value();
    else if (arg === "--sandbox-log") options.sandboxLog = path.resolve(value());
    else if (arg === "--auth") {
      const mode = value();
      if (mode !== "strict" && mode !== "development")
        throw new UsageError(`--auth takes strict or development, not '${mode}'.`);
      options.auth = mode;
    } else throw new UsageError(`Unknown option '${arg}'.`);
  }
  return options;
}

/** Fails at once, before the sandbox and Azurite start, when the port is taken. */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== "start")
    throw new UsageError(command === undefined ? "No command." : `Unknown command '${command}'.`);
  const options = parseArgs(rest);
  if (options.auth) process.env.SHIRE_AUTH = options.auth;
  const realCloud = process.env.SHIRE_CLOUD && process.env.SHIRE_CLOUD !== "Sandbox";
  // Loaded only when used: the deployed app never ships or starts the sandbox.
  const sandboxModule = options.sandbox && !realCloud ? await import("../sandbox/index.js") : undefined;
  let faults: SandboxFaults | undefined;
  if (sandboxModule) {
    try {
      faults = sandboxModule.faultPreset(options.sandboxFaults ?? "none");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (typeof faults !== "object" || faults === null || Array.isArray(faults))
      throw new UsageError(`--sandbox-faults: '${options.sandboxFaults}' is not a JSON object of fault settings.`);
  }
  await checkPortFree("127.0.0.1", options.port);

  let stopSandbox: (() => Promise<void>) | undefined;
  if (sandboxModule) {
    const sandbox = await sandboxModule.startSandbox({
      stateDir: path.join(options.stateDir, "sandbox"),
      faults,
      logFile: options.sandboxLog ?? process.env.SHIRE_SANDBOX_LOG,
    });
    process.env.SHIRE_CLOUD = "Sandbox";
    process.env.SHIRE_SANDBOX_PORT = String(sandbox.port);
    process.env.SHIRE_SANDBOX_CA_FILE = sandbox.caFile;
    stopSandbox = () => sandbox.stop();
    console.log(
      `Sandbox (emulated Azure) on https://management.sandbox.localhost:${sandbox.port} (CA ${sandbox.caFile}; state in ${sandbox.stateDir}${sandbox.restored ? ", carried on from the last run" : ""})`,
    );
  }

  // Fault injection for tests (durable engine): crash after N history events, duplicate deliveries.
  const crashAfter = Number(process.env.SHIRE_FAULT_CRASH_AFTER_EVENTS);
  const durableFaults = {
    ...(Number.isInteger(crashAfter) && crashAfter > 0 ? { crashAfterHistoryEvents: crashAfter } : {}),
    ...(process.env.SHIRE_FAULT_DUPLICATE_ACTIVITIES === "1" ? { duplicateActivityDelivery: true } : {}),
  };
  const host = new FunctionsHost({
    appRoot: process.cwd(),
    port: options.port,
    stateDir: options.stateDir,
    durableFaults,
  });
  await host.start();
  console.log("Functions:");
  for (const line of host.describe()) console.log(line);
  // Who a request without x-ms-client-principal acts as (src/api/auth.ts decides; this says it).
  console.log(
    (process.env.SHIRE_CLOUD ?? "Sandbox") === "Sandbox" && process.env.SHIRE_AUTH !== "strict"
      ? "Requests without x-ms-client-principal act as the development principal local-developer (Shire.Admin); --auth strict refuses them."
      : "Requests need x-ms-client-principal (App Service authentication's header) with a Shire app role.",
  );
  // Tests parse this line to find the port.
  console.log(`Shire host listening on ${host.url}`);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await host.stop();
    await stopSandbox?.();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown());
  process.on("SIGTERM", () => void shutdown());
}

/** A file system refusal (state dir not writable, package.json missing): its message says it all. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const { code, path: file } = error as NodeJS.ErrnoException;
  return typeof code === "string" && typeof file === "string";
}

main().catch((error: unknown) => {
  // Expected failures are one line (a usage error adds the usage); a bug keeps its stack.
  if (error instanceof UsageError) {
    console.error(error.message);
    console.error(USAGE);
    process.exit(2);
  }
  if (error instanceof HostStartError || isFileSystemError(error)) console.error(error.message);
  else console.error((error as Error)?.stack ?? String(error));
  process.exit(1);
});
