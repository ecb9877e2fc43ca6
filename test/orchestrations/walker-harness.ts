/**
 * Runs a fixture app on the real local Functions host (durable engine included) with a manual
 * clock, so retry timers fire only when the test moves time, and cleans up after itself.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FunctionsHost } from "../../src/runtime/host";
import { ManualClock } from "../../src/sandbox/state";
import type { InstanceState } from "../../src/runtime/durable/types";

export const WALKER_APP = path.resolve(__dirname, "../fixtures/walker-app");

/** The fixture app has no queue triggers: storage is never contacted, but the host wants a setting. */
const UNUSED_STORAGE =
  "DefaultEndpointsProtocol=http;AccountName=unused;AccountKey=dW51c2Vk;BlobEndpoint=http://127.0.0.1:9/unused;QueueEndpoint=http://127.0.0.1:9/unused;";

export interface WalkerHost {
  host: FunctionsHost;
  clock: ManualClock;
  /** What the host logged at warning level or above (a re-yield warning would show here). */
  warnings: string[];
  instance(id: string): InstanceState | undefined;
  close(): Promise<void>;
}

export async function startWalkerHost(): Promise<WalkerHost> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-walker-"));
  const clock = new ManualClock(Date.parse("2026-11-25T10:00:00Z"));
  const warnings: string[] = [];
  const log = (level: string, message: string) => {
    if (level === "warning" || level === "error") warnings.push(message);
  };
  const host = new FunctionsHost({
    appRoot: WALKER_APP,
    port: 0,
    stateDir,
    storageConnectionString: UNUSED_STORAGE,
    clock,
    log,
  });
  await host.start();
  return {
    host,
    clock,
    warnings,
    instance: (id) => host.engine.getInstance(id),
    close: async () => {
      await host.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
