/**
 * A host killed (SIGKILL) in the middle of a wave and started again on the same state directory
 * resumes the wave from its history: it finishes, every slug upgraded once.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { getJson, install, postJson, startHostProcess } from "./harness";
import { useAppSandbox } from "../fixtures/install-host";
import { until } from "../fixtures/wait";
import type { WaveRecord } from "../../src/operations/waves";

const azure = useAppSandbox({
  env: { SHIRE_UPGRADE_GATE_TIMEOUT_MS: "5000", SHIRE_UPGRADE_GATE_POLL_MS: "150", SHIRE_WAVE_POLL_MS: "150" },
});
const IMAGE = (version: string) => `ghcr.io/openclaw/openclaw:${version}`;
const SLUGS = ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"];

describe("a wave and a killed host", () => {
  it("resumes the wave after a SIGKILL and finishes it, each slug upgraded once", async () => {
    const stateDir = path.join(azure.dir, "host");
    const first = await startHostProcess(stateDir);
    let waveId: string;
    try {
      const installs = await Promise.all(
        SLUGS.map((slug) => install(first.url, slug, { image: IMAGE("2026.9.5") }, 120_000)),
      );
      for (const operation of installs) expect(operation.status, operation.message).toBe("succeeded");
      // Azurite saves what it was written up to 5 s late: a kill sooner could take the installs'
      // own records with it (restart-everything.test.ts deals with that; this test is about the wave).
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      // Revisions take a while to start: the kill lands with upgrades in flight.
      azure.sandbox.setFaults({ revisionStartMs: 600 });
      const started = await postJson(`${first.url}/api/waves`, {
        image: IMAGE("2026.9.6"),
        slugs: SLUGS,
        canary: 1,
        batchSize: 2,
        maxParallel: 2,
      });
      expect(started.status).toBe(202);
      waveId = String(started.body.waveId);
      await until(
        async () => {
          const { body } = await getJson<WaveRecord>(`${first.url}/api/waves/${waveId}`);
          return body.batches >= 1 && (body.counts.upgrading ?? 0) > 0 ? true : undefined;
        },
        "the wave past its canary with upgrades in flight",
        { timeoutMs: 60_000, intervalMs: 50 },
      );
    } finally {
      first.child.kill("SIGKILL");
      await first.exited;
    }

    const revived = await startHostProcess(stateDir);
    try {
      let last: WaveRecord | undefined;
      const record = await until(
        async () => {
          const { body } = await getJson<WaveRecord>(`${revived.url}/api/waves/${waveId!}`);
          last = body;
          return ["succeeded", "stopped", "canceled", "failed"].includes(body.status) ? body : undefined;
        },
        () =>
          `the wave to finish after the restart: ${JSON.stringify(last)}\n${revived.logs.join("").split("\n").slice(-40).join("\n")}`,
        { timeoutMs: 120_000 },
      );
      expect(record.status, record.message).toBe("succeeded");
      expect(record.counts, JSON.stringify(record.slugs)).toEqual({ done: 6 });
      for (const slug of SLUGS) {
        // The operation the wave gave the slug succeeded (answered from the slug's instance when
        // Azurite lost its record with the kill), and no other upgrade of the slug was started.
        const operation = await getJson<{ status: string }>(
          `${revived.url}/api/operations/${record.slugs[slug].operationId}`,
        );
        expect(operation.body.status, slug).toBe("succeeded");
        const { body } = await getJson<{ operations: { id: string; kind: string }[] }>(
          `${revived.url}/api/operations?slug=${slug}`,
        );
        const upgrades = body.operations.filter((entry) => entry.kind === "upgrade").map((entry) => entry.id);
        expect(
          upgrades.every((id) => id === record.slugs[slug].operationId),
          slug,
        ).toBe(true);
        const app = (
          azure.sandbox.inspect() as {
            arm: {
              resources: {
                id: string;
                type: string;
                properties: { template: { containers: { name: string; image: string }[] } };
              }[];
            };
          }
        ).arm.resources.find(
          (resource) =>
            resource.type === "Microsoft.App/containerApps" && resource.id.includes(`/resourceGroups/claw-${slug}/`),
        )!;
        expect(app.properties.template.containers.find((container) => container.name === "openclaw")!.image).toBe(
          IMAGE("2026.9.6"),
        );
      }
    } finally {
      azure.sandbox.setFaults({ revisionStartMs: 0 });
      await revived.stop();
    }
  }, 300_000);
});
