/**
 * `npm run bench`: the install against its bound (bench/install.ts), then the wave over a fleet
 * (bench/wave.ts). Each writes its JSON to bench/results/ and prints a summary. A benchmark, not
 * a test: nothing here passes or fails on a number. BENCH_ONLY=install|overhead|fleet|wave runs one of them.
 */
import fs from "node:fs";
import path from "node:path";
import { runWaveBench } from "./wave";
import { installSummary, runInstallBench } from "./install";
import { overheadSummary, runOverheadBench } from "./overhead";
import { fleetSummary, runFleetBench } from "./fleet";

/** The install against its bound and the sequential baseline (bench/install.ts): bench/results/install.json. */
async function main(): Promise<void> {
  const repoRoot = path.resolve(__dirname, "../..");
  const results = { when: new Date().toISOString(), node: process.version, ...(await runInstallBench(repoRoot)) };
  const out = path.join(repoRoot, "bench", "results");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "install.json"), `${JSON.stringify(results, null, 2)}\n`);
  for (const line of installSummary(results)) console.log(line);
  console.log("results: bench/results/install.json");
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

/** The durable engine's replay cost per event and memory (bench/overhead.ts): bench/results/overhead.json. */
async function overhead(): Promise<void> {
  const results = await runOverheadBench(path.resolve(__dirname, "../.."));
  for (const line of overheadSummary(results)) console.log(line);
  console.log("results: bench/results/overhead.json");
}

/** Installs started at once under ARM's buckets (bench/fleet.ts): bench/results/fleet.json. */
async function fleet(): Promise<void> {
  const repoRoot = path.resolve(__dirname, "../..");
  const results = { when: new Date().toISOString(), node: process.version, ...(await runFleetBench(repoRoot)) };
  fs.writeFileSync(path.join(repoRoot, "bench", "results", "fleet.json"), `${JSON.stringify(results, null, 2)}\n`);
  for (const line of fleetSummary(results)) console.log(line);
  console.log("results: bench/results/fleet.json");
}

async function all(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  if (!only || only === "install") await main();
  if (!only || only === "overhead") await overhead();
  if (!only || only === "fleet") await fleet();
  if (!only || only === "wave") await wave();
}

all().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
