/**
 * `npm run bench`: install timing against the sandbox with Azure-shaped latencies (the
 * "realistic" preset, scaled), on the real local host. Writes bench/results/install.json and
 * prints a summary. A benchmark, not a test: nothing here passes or fails on a number.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startSandbox, faultPreset } from "../src/sandbox";
import { FunctionsHost } from "../src/runtime/host";
import { planSlug, criticalPathLength } from "../src/model/plan";
import { validateInstallRequest } from "../src/model/validate";
import { planContextFromEnv } from "../src/api/plan-context";
import { runWaveBench } from "./wave";

interface Step {
  id: string;
  status: string;
  durationMs?: number;
  attempts?: number;
}

async function installAndWait(
  baseUrl: string,
  slug: string,
): Promise<{ wallMs: number; steps: Step[]; status: string }> {
  const started = Date.now();
  const response = await fetch(`${baseUrl}/api/slugs/${slug}/install`, { method: "POST", body: "{}" });
  const { operationId } = (await response.json()) as { operationId: string };
  for (;;) {
    const operation = (await (await fetch(`${baseUrl}/api/operations/${operationId}`)).json()) as {
      status: string;
      steps: Step[];
    };
    if (operation.status !== "running")
      return { wallMs: Date.now() - started, steps: operation.steps, status: operation.status };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function main(): Promise<void> {
  const repoRoot = path.resolve(__dirname, "../..");
  const scale = Number(process.env.BENCH_LATENCY_SCALE ?? 0.02);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-bench-"));
  const sandbox = await startSandbox({
    stateDir: path.join(dir, "sandbox"),
    faults: { ...faultPreset("realistic"), latencyScale: scale, graphReplicationDelayMs: 0 },
  });
  process.env.SHIRE_SANDBOX_PORT = String(sandbox.port);
  process.env.SHIRE_SANDBOX_CA_FILE = sandbox.caFile;
  process.env.SHIRE_CLOUD = "Sandbox";
  const host = new FunctionsHost({ appRoot: repoRoot, port: 0, stateDir: path.join(dir, "host"), log: () => {} });
  await host.start();
  try {
    const single = await installAndWait(host.url, "bench-one");
    const rerun = await installAndWait(host.url, "bench-one");
    const parallelStart = Date.now();
    const parallel = await Promise.all(
      ["bench-a", "bench-b", "bench-c", "bench-d"].map((slug) => installAndWait(host.url, slug)),
    );
    const parallelWallMs = Date.now() - parallelStart;
    const sumOfSteps = single.steps.reduce((sum, step) => sum + (step.durationMs ?? 0), 0);
    // The bound a perfect scheduler meets: the longest dependency chain, each step weighted by the
    // time it actually took. Wall time over it is the walker's own overhead.
    const validation = validateInstallRequest("bench-one", {});
    if (!validation.ok) throw new Error("default spec invalid");
    const plan = planSlug(validation.spec, planContextFromEnv());
    const measured = new Map(single.steps.map((step) => [step.id, step.durationMs ?? 0]));
    const criticalPathMs = criticalPathLength(plan.nodes, (node) => measured.get(node.id) ?? 0);
    const results = {
      when: new Date().toISOString(),
      latencyScale: scale,
      node: process.version,
      install: {
        status: single.status,
        wallMs: single.wallMs,
        steps: single.steps.length,
        sumOfStepDurationsMs: sumOfSteps,
        parallelismGain: Number((sumOfSteps / single.wallMs).toFixed(2)),
        criticalPathMs,
        wallOverCriticalPath: Number((single.wallMs / criticalPathMs).toFixed(3)),
        retriedSteps: single.steps
          .filter((step) => (step.attempts ?? 1) > 1)
          .map((step) => ({ id: step.id, attempts: step.attempts })),
      },
      reinstallNoChange: { status: rerun.status, wallMs: rerun.wallMs },
      fourInParallel: {
        statuses: parallel.map((run) => run.status),
        wallMs: parallelWallMs,
        perInstallMs: parallel.map((run) => run.wallMs),
      },
      slowestSteps: [...single.steps]
        .sort((a, b) => (b.durationMs ?? 0) - (a.durationMs ?? 0))
        .slice(0, 5)
        .map((step) => ({ id: step.id, durationMs: step.durationMs })),
      sandboxRequests: sandbox.requests().length,
    };
    const out = path.join(repoRoot, "bench", "results");
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, "install.json"), `${JSON.stringify(results, null, 2)}\n`);
    console.log(
      `install: ${results.install.wallMs} ms wall for ${results.install.steps} steps (sum of step durations ${sumOfSteps} ms, x${results.install.parallelismGain} from running independent steps together)`,
    );
    console.log(
      `critical path (longest dependency chain of measured step times): ${criticalPathMs} ms; wall / critical path = ${results.install.wallOverCriticalPath}`,
    );
    console.log(
      `steps that waited on propagation or faults: ${results.install.retriedSteps.map((step) => `${step.id} x${step.attempts}`).join(", ") || "none"}`,
    );
    console.log(`re-install with nothing to change: ${results.reinstallNoChange.wallMs} ms`);
    console.log(`4 slugs in parallel: ${parallelWallMs} ms wall`);
    console.log(`slowest steps: ${results.slowestSteps.map((step) => `${step.id} ${step.durationMs} ms`).join(", ")}`);
    console.log(`results: bench/results/install.json (latency scale ${scale} of Azure-like timings)`);
  } finally {
    await host.stop();
    await sandbox.stop();
  }
}

/** The wave over a fleet (bench/wave.ts): bench/results/wave.json. */
async function wave(): Promise<void> {
  const repoRoot = path.resolve(__dirname, "../..");
  const results = { when: new Date().toISOString(), node: process.version, ...(await runWaveBench(repoRoot)) };
  const out = path.join(repoRoot, "bench", "results");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "wave.json"), `${JSON.stringify(results, null, 2)}\n`);
  const r = results as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  console.log(
    `wave over ${r.slugs} slugs: ${r.wave.status} ${JSON.stringify(r.wave.counts)} in ${r.wave.wallSeconds} s; write-bucket bound ${r.writeBucketBoundSeconds} s (${r.arm.writes} writes); wall / bound = ${r.wallOverBound}`,
  );
  console.log(
    `read-bucket bound ${r.readBucketBoundSeconds} s (${r.arm.reads} reads): wall / the binding bound = ${r.wallOverBindingBound}`,
  );
  console.log(
    `429s: ${r.arm.throttled429} (of ${r.arm.writes} writes, ${r.arm.reads} reads); largest history: wave execution ${r.largestHistory.waveExecution.events} events / ${r.largestHistory.waveExecution.bytes} bytes, any instance at the end ${r.largestHistory.anyInstanceAtEnd.events} events; host peak ${r.hostPeakMiB} MiB`,
  );
  console.log("results: bench/results/wave.json");
}

async function all(): Promise<void> {
  if (process.env.BENCH_ONLY !== "wave") await main();
  if (process.env.BENCH_ONLY !== "install") await wave();
}

all().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
