#!/usr/bin/env node
/**
 * `node dist/src/runtime/cli.js start [--port 7071] [--state-dir .shire] [--no-sandbox]
 *   [--sandbox-faults none|realistic|flaky|<json>] [--sandbox-log <file>]`
 *
 * Runs the app in the current directory (package.json "main") on the local Functions host. Unless
 * told otherwise (or SHIRE_CLOUD names a real cloud) it first starts the sandbox, the emulated
 * Azure the app then talks to, and hands its endpoint and CA to the app through app settings.
 */
import path from "node:path";
import { FunctionsHost } from "./host";

interface CliOptions {
  port: number;
  stateDir: string;
  sandbox: boolean;
  sandboxFaults?: string;
  sandboxLog?: string;
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { port: 7071, stateDir: path.resolve(".shire"), sandbox: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === "--port") options.port = Number(value());
    else if (arg === "--state-dir") options.stateDir = path.resolve(value());
    else if (arg === "--no-sandbox") options.sandbox = false;
    else if (arg === "--sandbox-faults") options.sandboxFaults = value();
    else if (arg === "--sandbox-log") options.sandboxLog = path.resolve(value());
    else throw new Error(`Unknown option ${arg}`);
  }
  return options;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== "start") {
    console.error(
      "usage: cli.js start [--port 7071] [--state-dir .shire] [--no-sandbox] [--sandbox-faults none|realistic|flaky|<json>] [--sandbox-log <file>]",
    );
    process.exit(2);
  }
  const options = parseArgs(rest);
  const realCloud = process.env.SHIRE_CLOUD && process.env.SHIRE_CLOUD !== "Sandbox";
  let stopSandbox: (() => Promise<void>) | undefined;
  if (options.sandbox && !realCloud) {
    // Loaded only here: the deployed app never ships or starts the sandbox.
    const { startSandbox, faultPreset } = await import("../sandbox/index.js");
    const sandbox = await startSandbox({
      stateDir: path.join(options.stateDir, "sandbox"),
      faults: faultPreset(options.sandboxFaults ?? "none"),
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

main().catch((error: unknown) => {
  console.error((error as Error).stack ?? String(error));
  process.exit(1);
});
