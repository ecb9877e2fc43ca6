/**
 * The orchestration overhead bench (bench/results/overhead.json), run by `npm run bench` in a
 * process of its own (node --expose-gc dist/bench/overhead.js) so the memory figures are the
 * local host's durable engine and nothing else:
 *
 * - replay cost per history event: instances of about 10, 100 and 1,000 events (a chain of no-op
 *   activities, bench/overhead-app) run on the engine; every replay reports the history it handed
 *   to the orchestrator and the CPU time serializing it and running durable-functions over it
 *   took. The replays of an instance's (nearly) whole history, median per event, say whether a
 *   replay is linear in the history (flat per event); a least-squares line over every replay
 *   splits its cost into a fixed part and a part per event. Because the host replays the whole
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

function memory(): { rssMiB: number; heapUsedMiB: number; externalMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { rssMiB: mib(usage.rss), heapUsedMiB: mib(usage.heapUsed), externalMiB: mib(usage.external) };
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
    const everyReplay: [number, number][] = [];
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    for (const size of SIZES) {
      const perInstance = [];
      // A replay's cost per event near the instance's full size: its replays with at least 90% of the final history.
      const nearFull: number[] = [];
      for (let i = 0; i < size.instances; i++) {
        const id = `replay-${size.targetEvents}-${i}`;
        engine.startInstance("chain", id, { steps: size.steps });
        await engine.waitForIdle();
        const state = engine.getInstance(id)!;
        if (state.runtimeStatus !== "Completed") throw new Error(`${id} ended ${state.runtimeStatus}`);
        const list = samples.get(id)!;
        for (const sample of list) everyReplay.push([sample.historyEvents, sample.cpuMicros]);
        const full = list.at(-1)!.historyEvents;
        for (const sample of list)
          if (sample.historyEvents >= 0.9 * full) nearFull.push(sample.cpuMicros / sample.historyEvents);
        perInstance.push({
          events: state.history.length,
          replays: list.length,
          totalReplayCpuMicros: list.reduce((sum, sample) => sum + sample.cpuMicros, 0),
        });
      }
      replay.push({
        targetEvents: size.targetEvents,
        instances: size.instances,
        events: median(perInstance.map((run) => run.events)),
        replaysPerInstance: perInstance[0].replays,
        nearFullReplaysMeasured: nearFull.length,
        replayCpuMicrosPerEvent: Math.round(median(nearFull) * 100) / 100,
        lifetimeReplayCpuMicrosPerEvent:
          Math.round(median(perInstance.map((run) => run.totalReplayCpuMicros / run.events)) * 10) / 10,
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
    const fit = linearFit(everyReplay);
    const first = replay[0].replayCpuMicrosPerEvent;
    const lastSize = replay.at(-1)!.replayCpuMicrosPerEvent;
    return {
      replay,
      replayPerEventRatio1000to10: first > 0 ? Number((lastSize / first).toFixed(2)) : null,
      // A replay's CPU = fixed + perEvent x events (least squares over every measured replay).
      replayFit: {
        replays: everyReplay.length,
        fixedMicros: Math.round(fit.intercept),
        microsPerEvent: Math.round(fit.slope * 100) / 100,
      },
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
          external: Math.round((after.externalMiB - before.externalMiB) * 10) / 10,
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
    `replay CPU per history event (replays of an instance's full history): ${r.replay.map((row: Record<string, number>) => `${row.events} events ${row.replayCpuMicrosPerEvent} µs`).join(", ")}; 1,000 vs 10: x${r.replayPerEventRatio1000to10}`,
    `replay CPU fit over ${r.replayFit.replays} replays: ${r.replayFit.fixedMicros} µs per replay + ${r.replayFit.microsPerEvent} µs per history event`,
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
