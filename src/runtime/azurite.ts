/**
 * Azurite (Azure Storage emulator) for queue triggers and the app's storage when no
 * AzureWebJobsStorage is configured, as Core Tools would expect the developer to run it.
 * Data persists under the host's state dir so a restarted host finds its queues and blobs.
 */
import { spawn, type ChildProcess } from "node:child_process";
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

export async function startAzurite(location: string): Promise<AzuriteHandle> {
  fs.mkdirSync(location, { recursive: true });
  const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
  const entry = require.resolve("azurite/dist/src/azurite.js");
  const child: ChildProcess = spawn(
    process.execPath,
    [
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
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await waitForPort(queuePort, child, () => output);
  await waitForPort(blobPort, child, () => output);
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${ACCOUNT};QueueEndpoint=http://127.0.0.1:${queuePort}/${ACCOUNT};TableEndpoint=http://127.0.0.1:${tablePort}/${ACCOUNT};`;
  return {
    connectionString,
    blobPort,
    queuePort,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
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
