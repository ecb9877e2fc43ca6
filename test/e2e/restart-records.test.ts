/**
 * A host killed (SIGKILL) right after an operation ended keeps the records that operation wrote:
 * the slug's new version, its state, the operation's result. Found by the chaos run (npm run
 * chaos): the host's Azurite, told by its launcher to stop when the host died, wrote its shutdown
 * messages to the dead host's pipe, died of EPIPE before saving, and took the last seconds of
 * writes with it (Azurite saves its metadata every 5 s); the slug record rolled back to
 * `upgrading` and, settled from the finished instance, read `installed` on the old version.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, startHostProcess, waitForOperation } from "./harness";
import { useAppSandbox } from "../fixtures/install-host";
import { OperationStore, type OperationRecord, type SlugRecord } from "../../src/operations/records";
import { azuriteLocation, startAzurite } from "../../src/runtime/azurite";

const azure = useAppSandbox({ env: { SHIRE_UPGRADE_GATE_TIMEOUT_MS: "5000", SHIRE_UPGRADE_GATE_POLL_MS: "150" } });
const IMAGE = (version: string) => `ghcr.io/openclaw/openclaw:${version}`;

describe("records and a killed host", () => {
  it("keeps what an operation recorded just before the host was killed", async () => {
    const stateDir = path.join(azure.dir, "host");
    const first = await startHostProcess(stateDir);
    let operationId: string;
    try {
      expect((await install(first.url, "kept", { image: IMAGE("2026.9.5") }, 120_000)).status).toBe("succeeded");
      // Past Azurite's own 5 s save: only the upgrade's writes are at stake.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      const started = await postJson(`${first.url}/api/slugs/kept/upgrade`, { image: IMAGE("2026.9.6") });
      expect(started.status).toBe(202);
      operationId = String(started.body.operationId);
      expect((await waitForOperation(first.url, operationId, 60_000)).status).toBe("succeeded");
    } finally {
      // At once: well inside Azurite's 5 s between saves.
      first.child.kill("SIGKILL");
      await first.exited;
    }
    const revived = await startHostProcess(stateDir);
    try {
      const slug = (await getJson<SlugRecord>(`${revived.url}/api/slugs/kept`)).body;
      expect({ state: slug.state, version: slug.version, lastOperationId: slug.lastOperationId }).toEqual({
        state: "installed",
        version: IMAGE("2026.9.6"),
        lastOperationId: operationId!,
      });
      const operation = (
        await getJson<{ status: string; message: string }>(`${revived.url}/api/operations/${operationId!}`)
      ).body;
      expect(operation.status).toBe("succeeded");
      expect(operation.message).toMatch(/done: revision .* is healthy/);
    } finally {
      await revived.stop();
    }
  }, 180_000);

  it("settles an upgrade whose result records were lost (Azurite itself killed) on the image it upgraded to", async () => {
    // What SIGKILL of the whole `npm start` process group can still do (Azurite saves every 5 s):
    // the instance finished, its result writes are gone, the records read as they did mid-upgrade.
    const stateDir = path.join(azure.dir, "lost");
    const host = await startHostProcess(stateDir);
    let operationId: string;
    try {
      expect((await install(host.url, "lost", { image: IMAGE("2026.9.5") }, 120_000)).status).toBe("succeeded");
      const started = await postJson(`${host.url}/api/slugs/lost/upgrade`, { image: IMAGE("2026.9.6") });
      operationId = String(started.body.operationId);
      expect((await waitForOperation(host.url, operationId, 60_000)).status).toBe("succeeded");
    } finally {
      await host.stop();
    }
    const azurite = await startAzurite(azuriteLocation(stateDir));
    try {
      const store = new OperationStore(azurite.connectionString);
      await store.updateSlug("lost", (current) => ({ ...current!, state: "upgrading", version: IMAGE("2026.9.5") }));
      await store.updateOperation(operationId!, (current) => ({ ...(current as OperationRecord), status: "running" }));
    } finally {
      await azurite.stop();
    }
    const revived = await startHostProcess(stateDir);
    try {
      const slug = (await getJson<SlugRecord>(`${revived.url}/api/slugs/lost`)).body;
      expect({ state: slug.state, version: slug.version }).toEqual({ state: "installed", version: IMAGE("2026.9.6") });
    } finally {
      await revived.stop();
    }
  }, 180_000);
});
