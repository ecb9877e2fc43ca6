/**
 * The orchestration overhead bench (bench/results/overhead.json), run by `npm run bench` in a
 * process of its own (node --expose-gc dist/bench/overhead.js) so the memory figures are the
 * local host's durable engine and nothing else:
 *
 * - replay cost per history event: instances of about 10, 100 and 1,000 events (a chain of no-op
 *   activities, bench/overhead-app) run on the engine; every replay reports the history it handed
 *   to the orchestrator and the CPU time serializing it and running durable-functions over it
 *   took. The last replay of an instance reads its whole history: its cost per event says whether
 *   a replay is linear in the history (flat per event). Because the host replays the whole
 *   history for every new event (as the Durable extension does), an instance's total replay cost
 *   grows with the square of its events: reported too, per event.
 * - memory with 1,000 finished operations: resident set and V8 heap after a full collection, once
 *   the engine is started and again after 1,000 instances of about 100 events each have finished.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { loadApp } from "../src/runtime/worker/load-app";
import { DurableEngine, type ReplaySample } from "../src/runtime/durable/engine";

/** Activities per instance for about 10, 100 and 1,000 history events (4 events per activity, plus the start). */
const SIZES = [
  { targetEvents: 10, steps: 2, instances: 20 },
  { targetEvents: 100, steps: 24, instances: 5 },
  { targetEvents: 1000, steps: 249, instances: 2 },
];
const FINISHED = Number(process.env.BENCH_OVERHEAD_INSTANCES ?? 1000);

/** Least-squares line through the points. */
export function linearFit(points: [number, number][]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxx = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0) / sxx;
  return { slope, intercept: my - slope * mx };
}

function memory(): { rssMiB: number; heapUsedMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { rssMiB: mib(usage.rss), heapUsedMiB: mib(usage.heapUsed) };
}

async function measure(): Promise<Record<string, unknown>> {
  const appRoot = path.resolve(__dirname, "../../bench/overhead-app");
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-bench-overhead-"));
  const loaded = loadApp(appRoot);
  const engine = new DurableEngine({
    recorder: loaded.recorder,
    stateDir,
    hubName: "OverheadHub",
    baseUrl: "http://127.0.0.1:0",
  });
  await engine.start();
  const samples = new Map<string, ReplaySample[]>();
  engine.onReplay = (sample) => {
    const list = samples.get(sample.instanceId) ?? [];
    list.push(sample);
    samples.set(sample.instanceId, list);
  };
  try {
    // Warm-up: the library's code paths compiled before anything is measured.
    for (let i = 0; i < 3; i++) engine.startInstance("chain", `warm-${i}`, { steps: 24 });
    await engine.waitForIdle();
    samples.clear();

    const replay = [];
    for (const size of SIZES) {
      const perInstance = [];
      for (let i = 0; i < size.instances; i++) {
        const id = `replay-${size.targetEvents}-${i}`;
        engine.startInstance("chain", id, { steps: size.steps });
        await engine.waitForIdle();
        const state = engine.getInstance(id)!;
        if (state.runtimeStatus !== "Completed") throw new Error(`${id} ended ${state.runtimeStatus}`);
        const list = samples.get(id)!;
        const last = list.at(-1)!;
        const total = list.reduce((sum, sample) => sum + sample.cpuMicros, 0);
        perInstance.push({
          events: state.history.length,
          replays: list.length,
          lastReplayEvents: last.historyEvents,
          lastReplayCpuMicros: last.cpuMicros,
          totalReplayCpuMicros: total,
        });
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const events = median(perInstance.map((run) => run.events));
      const lastReplayPerEvent = median(perInstance.map((run) => run.lastReplayCpuMicros / run.lastReplayEvents));
      const lifetimePerEvent = median(perInstance.map((run) => run.totalReplayCpuMicros / run.events));
      replay.push({
        targetEvents: size.targetEvents,
        instances: size.instances,
        events,
        replaysPerInstance: perInstance[0].replays,
        lastReplayCpuMicros: median(perInstance.map((run) => run.lastReplayCpuMicros)),
        lastReplayCpuMicrosPerEvent: Math.round(lastReplayPerEvent * 10) / 10,
        lifetimeReplayCpuMicrosPerEvent: Math.round(lifetimePerEvent * 10) / 10,
      });
    }
    samples.clear();
    engine.onReplay = undefined;

    // Memory: 1,000 finished instances of about 100 events, 50 at a time.
    const before = memory();
    const started = Date.now();
    for (let batch = 0; batch < FINISHED; batch += 50) {
      for (let i = batch; i < Math.min(FINISHED, batch + 50); i++)
        engine.startInstance("chain", `finished-${i}`, { steps: 24 });
      await engine.waitForIdle();
    }
    const wallMs = Date.now() - started;
    const after = memory();
    const fit = linearFit(replay.map((row) => [row.events, row.lastReplayCpuMicros] as [number, number]));
    const first = replay[0].lastReplayCpuMicrosPerEvent;
    const lastSize = replay.at(-1)!.lastReplayCpuMicrosPerEvent;
    return {
      replay,
      replayPerEventRatio1000to10: first > 0 ? Number((lastSize / first).toFixed(2)) : null,
      // A replay's CPU = fixed + perEvent x events (least squares over the sizes' last replays).
      replayFit: { fixedMicros: Math.round(fit.intercept), microsPerEvent: Math.round(fit.slope * 100) / 100 },
      memory: {
        finishedInstances: FINISHED,
        eventsEach: engine.getInstance("finished-0")?.history.length,
        runWallMs: wallMs,
        residentInstancesAfter: engine.residentInstances(),
        afterStart: before,
        afterFinished: after,
        growthMiB: {
          rss: Math.round((after.rssMiB - before.rssMiB) * 10) / 10,
          heapUsed: Math.round((after.heapUsedMiB - before.heapUsedMiB) * 10) / 10,
        },
      },
      note: "CPU of the durable engine's replays (history serialized and handed to durable-functions, the orchestrator run over it), measured in this process with nothing else running; memory after a full GC (node --expose-gc).",
    };
  } finally {
    await engine.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Run the bench in a fresh process (its memory is the engine's alone); returns what it wrote. */
export async function runOverheadBench(repoRoot: string): Promise<Record<string, unknown>> {
  const out = path.join(repoRoot, "bench", "results", "overhead.json");
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", __filename, out], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`overhead bench exited ${code}`))));
  });
  return JSON.parse(fs.readFileSync(out, "utf8")) as Record<string, unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function overheadSummary(r: Record<string, any>): string[] {
  return [
    `replay CPU: ${r.replayFit.fixedMicros} µs per replay + ${r.replayFit.microsPerEvent} µs per history event (fit over the last replay of each size)`,
    `replay CPU per history event (last replay of an instance): ${r.replay.map((row: Record<string, number>) => `${row.events} events ${row.lastReplayCpuMicrosPerEvent} µs`).join(", ")}; 1,000 vs 10: x${r.replayPerEventRatio1000to10}`,
    `replay CPU over an instance's life, per event: ${r.replay.map((row: Record<string, number>) => `${row.events} events ${row.lifetimeReplayCpuMicrosPerEvent} µs`).join(", ")} (every new event replays the whole history)`,
    `memory with ${r.memory.finishedInstances} finished instances of ${r.memory.eventsEach} events: rss ${r.memory.afterFinished.rssMiB} MiB (+${r.memory.growthMiB.rss}), heap ${r.memory.afterFinished.heapUsedMiB} MiB (+${r.memory.growthMiB.heapUsed}); ${r.memory.residentInstancesAfter} held in memory`,
  ];
}

if (require.main === module) {
  const out = process.argv[2];
  measure()
    .then((results) => {
      const full = { when: new Date().toISOString(), node: process.version, cpus: os.cpus().length, ...results };
      if (out) fs.writeFileSync(out, `${JSON.stringify(full, null, 2)}\n`);
      else console.log(JSON.stringify(full, null, 2));
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
