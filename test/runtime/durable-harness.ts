/**
 * Test harness: loads a fixture app and serves the durable engine's webhooks on an ephemeral
 * loopback port, so the real durable client (HTTP) can drive it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import type * as df from "durable-functions";
import { loadApp } from "../../src/runtime/worker/load-app";
import { DurableEngine, type DurableEngineOptions } from "../../src/runtime/durable/engine";
import { sharedGate, until as poll } from "../fixtures/wait";

export const FIXTURE_APP = path.resolve(__dirname, "../fixtures/durable-app");

export interface Harness {
  engine: DurableEngine;
  baseUrl: string;
  stateDir: string;
  counterDir: string;
  close(): Promise<void>;
}

export async function startHarness(
  options: Partial<DurableEngineOptions> & { stateDir?: string } = {},
): Promise<Harness> {
  const loaded = loadApp(FIXTURE_APP);
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "shire-durable-"));
  const counterDir = process.env.FIXTURE_COUNTER_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "shire-counter-"));
  process.env.FIXTURE_COUNTER_DIR = counterDir;
  const holder: { engine?: DurableEngine } = {};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => void holder.engine!.handleHttp(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const engine = new DurableEngine({ recorder: loaded.recorder, stateDir, hubName: "FixtureHub", baseUrl, ...options });
  holder.engine = engine;
  await engine.start();
  return {
    engine,
    baseUrl,
    stateDir,
    counterDir,
    close: async () => {
      await engine.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function deliveries(counterDir: string, name: string, input: string): number {
  const file = path.join(counterDir, `${name}-${JSON.stringify(input).replace(/[^a-z0-9]/gi, "_")}.count`);
  return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) : 0;
}

/** Open the fixture's gate `key` (test/fixtures/durable-app), creating it if nothing waits yet. */
export function releaseGate(key: string): void {
  sharedGate(key).resolve();
}

const requireFromHere = createRequire(__filename);

/** The real durable client (durable-functions' DurableClient class) pointed at the harness's webhooks. */
export function durableClient(engine: DurableEngine): df.DurableClient {
  const { DurableClient } = requireFromHere("durable-functions/lib/src/durableClient/DurableClient") as {
    DurableClient: new (data: unknown) => df.DurableClient;
  };
  return new DurableClient(JSON.parse(engine.clientInputData().json!));
}

/** Poll until `read` returns something, letting the engine settle in between. */
export function until<T>(read: () => T | undefined, what: string, engine: DurableEngine, attempts = 400): Promise<T> {
  return poll(read, what, { attempts, intervalMs: 5, settle: () => engine.waitForIdle() });
}
