/**
 * Hosts of other fixture apps, one per test file process (the core API stand-in holds one app
 * per process): an app served at the root (routePrefix ""), its app-level hooks, and an app whose
 * bindings the local host would otherwise drop.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FunctionsHost } from "../../src/runtime/host";

const out = fs.mkdtempSync(path.join(os.tmpdir(), "shire-root-out-"));

describe('an app with routePrefix ""', () => {
  it("serves its routes at the root and runs appStart once before, appTerminate at stop", async () => {
    process.env.FIXTURE_OUT = out;
    delete process.env.AzureWebJobsStorage;
    const host = new FunctionsHost({
      appRoot: path.resolve(__dirname, "../fixtures/root-app"),
      port: 0,
      stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "shire-root-")),
      log: () => {},
    });
    await host.start();
    try {
      expect(await (await fetch(`${host.url}/status`)).json()).toEqual({ ok: true });
      expect((await fetch(`${host.url}/api/status`)).status).toBe(404);
    } finally {
      await host.stop();
    }
    const hooks = fs
      .readFileSync(path.join(out, "root-hooks.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(hooks).toEqual([{ hook: "appStart" }, { hook: "appTerminate", sawStart: true }]);
  });
});
