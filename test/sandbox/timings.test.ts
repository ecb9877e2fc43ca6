/**
 * What the sandbox records of each request's wait (src/sandbox/timings.ts, the bench's bound):
 * the latency it slept, and each time gate an answer depended on, closed or open, with the moment
 * its wait began.
 */
import { describe, expect, it } from "vitest";
import { keyVaultUrl } from "../../src/azure/endpoints";
import { ManualClock } from "../../src/sandbox/state";
import { useSandbox } from "../fixtures/sandbox";
import { armRaw, ids, API } from "./arm-helpers";
import { failure, grantBroker, group, vault } from "./helpers";

const clock = new ManualClock();
const azure = useSandbox({
  clock,
  timings: true,
  faults: { latencyMs: { "Microsoft.KeyVault/vaults": 400 }, latencyScale: 0.1, rbacPropagationMs: 60_000 },
});

const since = (mark: number) => azure.sandbox.timings().slice(mark);

describe("request timings", () => {
  it("records the latency slept and the RBAC propagation a data-plane answer waited on", async () => {
    await group(azure.clients, "rg-timings");
    let mark = azure.sandbox.timings().length;
    const created = await vault(azure, "rg-timings", "kv-timings-1");
    const put = since(mark).find((timing) => timing.method === "PUT" && /vaults\/kv-timings-1/.test(timing.url));
    expect(put).toMatchObject({ service: "arm", status: 201, latencyMs: 40 });

    const grantedAt = clock.now();
    await grantBroker(azure, created.id!, "8b000000-0000-4000-8000-00000000a001");
    const secrets = azure.clients.secrets(keyVaultUrl(azure.sandbox.endpoints, "kv-timings-1"));
    mark = azure.sandbox.timings().length;
    expect((await failure(secrets.setSecret("s", "value-timings-1"))).statusCode).toBe(403);
    const refused = since(mark).filter((timing) => timing.service === "keyvault" && timing.status === 403);
    expect(refused.at(-1)?.gates).toEqual([{ kind: "rbac", originAt: grantedAt, delayMs: 6_000, open: false }]);

    clock.advance(6_000);
    mark = azure.sandbox.timings().length;
    await secrets.setSecret("s", "value-timings-1");
    const served = since(mark).filter((timing) => timing.service === "keyvault" && timing.status === 200);
    expect(served.at(-1)?.gates).toEqual([{ kind: "rbac", originAt: grantedAt, delayMs: 6_000, open: true }]);
  });

  it("records a long-running operation's polls: closed while it runs, open once its time is up", async () => {
    const { group: rg } = ids(azure.sandbox);
    await group(azure.clients, "rg-timings-lro");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.Resources/resourceGroups": 30_000 } });
    try {
      const startedAt = clock.now();
      const accepted = await armRaw(azure.sandbox, "DELETE", `${rg("rg-timings-lro")}?api-version=${API.resources}`);
      const poll = () => armRaw(azure.sandbox, "GET", String(accepted.headers.location));
      const mark = azure.sandbox.timings().length;
      expect((await poll()).status).toBe(202);
      clock.advance(3_000);
      expect((await poll()).status).toBe(200);
      expect(since(mark).map((timing) => timing.gates)).toEqual([
        [{ kind: "lro", originAt: startedAt, delayMs: 3_000, open: false }],
        [{ kind: "lro", originAt: startedAt, delayMs: 3_000, open: true }],
      ]);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });

  it("records a read of a resource its PUT's operation is still provisioning, and once it is done", async () => {
    const { resource } = ids(azure.sandbox);
    await group(azure.clients, "rg-timings-read");
    azure.sandbox.setFaults({ lroDurationMs: { "Microsoft.OperationalInsights/workspaces": 10_000 } });
    try {
      const workspace = `${resource("rg-timings-read", "Microsoft.OperationalInsights", "workspaces", "log-timings")}?api-version=${API.workspaces}`;
      const startedAt = clock.now();
      const put = await armRaw(azure.sandbox, "PUT", workspace, { location: "westeurope", properties: {} });
      expect(put.status).toBe(201);
      const mark = azure.sandbox.timings().length;
      await armRaw(azure.sandbox, "GET", workspace);
      clock.advance(1_000);
      await armRaw(azure.sandbox, "GET", workspace);
      expect(since(mark).map((timing) => timing.gates)).toEqual([
        [{ kind: "lro", originAt: startedAt, delayMs: 1_000, open: false }],
        [{ kind: "lro", originAt: startedAt, delayMs: 1_000, open: true }],
      ]);
    } finally {
      azure.sandbox.setFaults({ lroDurationMs: {} });
    }
  });
});
