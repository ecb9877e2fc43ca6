/**
 * The fleet install bench (bench/results/fleet.json): BENCH_FLEET_SLUGS installs (default 100),
 * all started at once through the API, against the sandbox with the install bench's Azure-shaped
 * latencies and ARM's real token buckets (writes 200 + 10/s, reads 250 + 25/s, as bench/wave.ts
 * sets them up). Reports the wall time from the first request to the last install settled against
 * each bucket's bound (what the fleet spent of it, less what the bucket holds, at its refill rate:
 * the writes bound is writes per install x slugs), the 429s the sandbox answered, whether every
 * slug converged, and whether any operation failed on throttling.
 *
 * Entra's quota of 250 directory objects per principal (the sandbox's `directoryObjectQuota`)
 * allows 83 slugs (three objects each, the Teams bot being the slug's managed identity): the bench raises it (departing from Azure, as
 * the wave bench does; docs/operations.md, "Fleet size") so the figure is ARM's, not Entra's.
 * Likewise Container Apps' 15 environments per region per subscription (the sandbox's
 * `environmentsPerRegion`, the broker's `SHIRE_ENVIRONMENTS_PER_REGION`): raised, as Azure raises
 * it on a quota request, so the fleet stays in one subscription and under one set of buckets.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startSandbox, faultPreset } from "../src/sandbox";
import { startAzurite } from "../src/runtime/azurite";
import { scaledRetry } from "./install";
import { peakMiB, removeBenchDir, startHost } from "./wave";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface OperationView {
  status: string;
  steps: { id: string; status: string; error?: string; attempts?: number }[];
}

export const DIRECTORY_QUOTA_FOR_BENCH = 100_000;
/** Container Apps environments per region for the bench's one subscription (Azure's default is 15). */
export const ENVIRONMENT_QUOTA_FOR_BENCH = 10_000;

export async function runFleetBench(repoRoot: string): Promise<Record<string, unknown>> {
  const count = Number(process.env.BENCH_FLEET_SLUGS ?? 100);
  const scale = Number(process.env.BENCH_LATENCY_SCALE ?? 0.02);
  const retry = scaledRetry(scale);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-bench-fleet-"));
  const requestLog = path.join(dir, "sandbox-requests.jsonl");
  const sandbox = await startSandbox({
    stateDir: path.join(dir, "sandbox"),
    logFile: requestLog,
    faults: {
      ...faultPreset("realistic"),
      latencyScale: scale,
      graphReplicationDelayMs: 0,
      throttleScale: 1,
      directoryObjectQuota: DIRECTORY_QUOTA_FOR_BENCH,
      environmentsPerRegion: ENVIRONMENT_QUOTA_FOR_BENCH,
    },
  });
  const azurite = await startAzurite(path.join(dir, "azurite"));
  // The host runs as its own process (as in the wave bench), with the bench's scaled retry schedule.
  const host = await startHost(repoRoot, path.join(dir, "host"), {
    ...process.env,
    SHIRE_CLOUD: "Sandbox",
    SHIRE_SANDBOX_PORT: String(sandbox.port),
    SHIRE_SANDBOX_CA_FILE: sandbox.caFile,
    AzureWebJobsStorage: azurite.connectionString,
    SHIRE_RETRY_FIRST_INTERVAL_MS: String(retry.firstRetryIntervalMs),
    SHIRE_RETRY_MAX_INTERVAL_MS: String(retry.maxRetryIntervalMs),
    // The broker's preflight of the quota (docs/operations.md, "Fleet size") follows the sandbox's.
    SHIRE_DIRECTORY_OBJECT_QUOTA: String(DIRECTORY_QUOTA_FOR_BENCH),
    SHIRE_ENVIRONMENTS_PER_REGION: String(ENVIRONMENT_QUOTA_FOR_BENCH),
    NODE_OPTIONS: process.env.BENCH_HOST_NODE_OPTIONS ?? "--max-old-space-size=512",
  });
  try {
    const slugs = Array.from({ length: count }, (_, index) => `fleet-${String(index).padStart(3, "0")}`);
    const started = Date.now();
    const operations = await Promise.all(
      slugs.map(async (slug) => {
        const response = await fetch(`${host.url}/api/slugs/${slug}/install`, { method: "POST", body: "{}" });
        if (response.status !== 202) throw new Error(`install ${slug}: ${response.status} ${await response.text()}`);
        return ((await response.json()) as { operationId: string }).operationId;
      }),
    );
    const settled = new Map<string, OperationView & { wallMs: number }>();
    while (settled.size < operations.length) {
      await sleep(1_000);
      for (const operationId of operations) {
        if (settled.has(operationId)) continue;
        const view = (await (await fetch(`${host.url}/api/operations/${operationId}`)).json()) as OperationView;
        if (view.status !== "running") settled.set(operationId, { ...view, wallMs: Date.now() - started });
      }
      if (Date.now() - started > 1_800_000) throw new Error("the fleet did not settle within 30 minutes");
    }
    const wallMs = Math.max(...[...settled.values()].map((view) => view.wallMs));
    const hostPeakMiB = peakMiB(host.pid);

    let writes = 0;
    let reads = 0;
    let throttled = 0;
    for (const line of fs.readFileSync(requestLog, "utf8").split("\n")) {
      if (!line) continue;
      let entry: { method: string; url: string; status: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (!/^\/subscriptions\//.test(entry.url)) continue;
      if (entry.status === 429) throttled++;
      else if (entry.method === "GET") reads++;
      else writes++;
    }
    const views = [...settled.values()];
    const failedOnThrottling = views.filter((view) =>
      view.steps.some((step) => step.status === "failed" && /429|TooManyRequests|throttl/i.test(step.error ?? "")),
    ).length;
    const writeBound = Math.max(0, writes - 200) / 10;
    const readBound = Math.max(0, reads - 250) / 25;
    const wallSeconds = Math.round(wallMs / 100) / 10;
    return {
      slugs: count,
      latencyScale: scale,
      directoryObjectQuota: `raised to ${DIRECTORY_QUOTA_FOR_BENCH} for the bench (Entra's is 250 per principal: 83 slugs)`,
      environmentsPerRegion: `raised to ${ENVIRONMENT_QUOTA_FOR_BENCH} for the bench (Azure's default is 15 per region per subscription)`,
      wallSeconds,
      statuses: views.reduce<Record<string, number>>((counts, view) => {
        counts[view.status] = (counts[view.status] ?? 0) + 1;
        return counts;
      }, {}),
      allConverged: views.every((view) => view.status === "succeeded"),
      failedOnThrottling,
      arm: { writes, reads, throttled429: throttled, writesPerInstall: Math.round((writes / count) * 10) / 10 },
      writeBucketBoundSeconds: writeBound,
      wallOverWriteBound: writeBound > 0 ? Number((wallSeconds / writeBound).toFixed(3)) : null,
      readBucketBoundSeconds: readBound,
      wallOverBindingBound:
        Math.max(writeBound, readBound) > 0 ? Number((wallSeconds / Math.max(writeBound, readBound)).toFixed(3)) : null,
      perInstallSeconds: {
        fastest: Math.round(Math.min(...views.map((view) => view.wallMs)) / 100) / 10,
        slowest: wallSeconds,
      },
      hostPeakMiB,
      retriedSteps: views.reduce((sum, view) => sum + view.steps.filter((step) => (step.attempts ?? 1) > 1).length, 0),
    };
  } finally {
    await host.stop();
    await azurite.stop();
    await sandbox.stop();
    removeBenchDir(dir);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fleetSummary(r: Record<string, any>): string[] {
  return [
    `fleet: ${r.slugs} installs at once: ${JSON.stringify(r.statuses)} in ${r.wallSeconds} s; write-bucket bound ${r.writeBucketBoundSeconds} s (${r.arm.writes} writes, ${r.arm.writesPerInstall} per install); wall / bound = ${r.wallOverWriteBound}`,
    `read-bucket bound ${r.readBucketBoundSeconds} s (${r.arm.reads} reads): wall / the binding bound = ${r.wallOverBindingBound}; 429s: ${r.arm.throttled429}; operations failed on throttling: ${r.failedOnThrottling}`,
    `directory object quota ${r.directoryObjectQuota}`,
  ];
}
