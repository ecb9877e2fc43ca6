/**
 * The host's Azurite ends with the host, however the host ends, and a host starting on a state
 * dir ends an Azurite still running there (it saves its data first) before starting its own.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { QueueServiceClient } from "@azure/storage-queue";
import { startHostProcess } from "../e2e/harness";
import { FunctionsHost } from "../../src/runtime/host";
import { azuriteLocation, azuritePidFile, freePort, isAzuriteOn, processAlive } from "../../src/runtime/azurite";

const APP = path.resolve(__dirname, "../fixtures/catchall-app");

function recordedPid(stateDir: string): number {
  return Number(fs.readFileSync(azuritePidFile(azuriteLocation(stateDir)), "utf8").trim());
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

describe("the host's Azurite", () => {
  it.each(["SIGKILL", "SIGTERM", "SIGINT"] as const)("ends when the host process gets %s", async (signal) => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-azurite-life-"));
    const host = await startHostProcess(stateDir, {}, { appRoot: APP });
    const pid = recordedPid(stateDir);
    expect(processAlive(pid)).toBe(true);
    expect(isAzuriteOn(pid, azuriteLocation(stateDir))).toBe(true);
    host.child.kill(signal);
    await host.exited;
    expect(await gone(pid, 10_000), `Azurite ${pid} outlived its host (${signal})`).toBe(true);
  });

  it("is ended when a host starts on its state dir, after saving its data, and replaced by the host's own", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-azurite-stale-"));
    const location = azuriteLocation(stateDir);
    fs.mkdirSync(location, { recursive: true });
    // An Azurite nobody ends: started without the launcher, as a host before it left them behind.
    const [blobPort, queuePort, tablePort] = [await freePort(), await freePort(), await freePort()];
    const stale = spawn(
      process.execPath,
      [
        require.resolve("azurite/dist/src/azurite.js"),
        ...["--location", location, "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
        ...["--blobPort", String(blobPort), "--queuePort", String(queuePort), "--tablePort", String(tablePort)],
      ],
      { stdio: "ignore", detached: true },
    );
    stale.unref();
    const stalePid = stale.pid!;
    fs.writeFileSync(azuritePidFile(location), `${stalePid}\n`);
    const staleQueues = QueueServiceClient.fromConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:${queuePort}/devstoreaccount1;`,
    );
    for (let attempt = 0; ; attempt++) {
      try {
        await staleQueues.getQueueClient("kept").createIfNotExists();
        break;
      } catch (error) {
        if (attempt > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await staleQueues.getQueueClient("kept").sendMessage("from before");

    const logs: string[] = [];
    delete process.env.AzureWebJobsStorage;
    const host = new FunctionsHost({
      appRoot: APP,
      port: 0,
      stateDir,
      log: (level, message) => logs.push(`[${level}] ${message}`),
    });
    try {
      await host.start();
      expect(processAlive(stalePid)).toBe(false);
      expect(logs.join("\n")).toContain(`Ending the Azurite (pid ${stalePid}) still running on ${location}`);
      const pid = recordedPid(stateDir);
      expect(pid).not.toBe(stalePid);
      expect(isAzuriteOn(pid, location)).toBe(true);
      const queue = QueueServiceClient.fromConnectionString(host.storageConnectionString!).getQueueClient("kept");
      const peeked = (await queue.peekMessages()).peekedMessageItems.map((message) => message.messageText);
      expect(peeked).toEqual(["from before"]);
    } finally {
      await host.stop();
      if (processAlive(stalePid)) process.kill(stalePid, "SIGKILL");
    }
    expect(fs.existsSync(azuritePidFile(location))).toBe(false);
  });

  it("leaves alone a recorded pid that is not an Azurite on its location", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-azurite-reused-"));
    const location = azuriteLocation(stateDir);
    fs.mkdirSync(location, { recursive: true });
    // The pid was recorded by a host long gone and now belongs to another process: this one.
    fs.writeFileSync(azuritePidFile(location), `${process.pid}\n`);
    expect(isAzuriteOn(process.pid, location)).toBe(false);
    delete process.env.AzureWebJobsStorage;
    const host = new FunctionsHost({ appRoot: APP, port: 0, stateDir, log: () => undefined });
    try {
      await host.start();
      expect(recordedPid(stateDir)).not.toBe(process.pid);
    } finally {
      await host.stop();
    }
  });
});
