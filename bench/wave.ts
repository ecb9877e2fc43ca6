/**
 * The wave benchmark: one upgrade wave over a fleet of sandbox slugs (BENCH_WAVE_SLUGS, default
 * 1,000) with ARM's real token buckets (writes 200 + 10/s, reads 250 + 25/s), on the local host run
 * as its own process. Reports the wave's wall time against the write bucket's bound (the writes
 * it made, less the bucket, at 10/s), the 429s the sandbox answered, the largest orchestration
 * history (events and bytes on disk) and the host's peak memory (VmHWM), in
 * bench/results/wave.json.
 *
 * The fleet: one slug installed through the API, then cloned in the sandbox and in Shire's
 * records under other names (an install per slug would take half an hour and meet Entra's
 * 250-objects-per-principal quota at 83 slugs: docs/operations.md, "Fleet size"). What an
 * upgrade reads and writes (the app, its revisions, the share, the vault it references and the
 * roles on it, the environment and its storage) is all there for every clone.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { startSandbox } from "../src/sandbox";
import type { StoredResource } from "../src/sandbox/arm/store";
import { startAzurite } from "../src/runtime/azurite";
import { InstanceStore } from "../src/runtime/durable/store";
import { deriveNames } from "../src/model/names";
import { OperationStore, type AppliedState, type SlugRecord } from "../src/operations/records";
import type { WaveRecord } from "../src/operations/waves";

const IMAGE = (version: string) => `ghcr.io/openclaw/openclaw:${version}`;
/** The run's state (sandbox, host, Azurite: gigabytes for a large wave) goes unless BENCH_KEEP=1. */
export function removeBenchDir(dir: string): void {
  if (process.env.BENCH_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface HostProcess {
  url: string;
  pid: number;
  /** Why the host is gone, with the end of its output; undefined while it runs. */
  exitReport(): string | undefined;
  stop(): Promise<void>;
}

export async function startHost(repoRoot: string, stateDir: string, env: NodeJS.ProcessEnv): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, "dist/src/runtime/cli.js"), "start", "--port", "0", "--no-sandbox", "--state-dir", stateDir],
    { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let exit: string | undefined;
  let errors = "";
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exit = `host exited (${signal ?? code})`;
      resolve();
    }),
  );
  let buffer = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /Shire host listening on (http:\/\/[^\s]+)/.exec(buffer);
      if (match) resolve(match[1]);
      if (buffer.length > 100_000) buffer = buffer.slice(-10_000);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      errors = (errors + chunk.toString()).slice(-4_000);
    });
    void exited.then(() => reject(new Error(`host exited before listening: ${buffer.slice(-2000)}`)));
  });
  return {
    url,
    pid: child.pid!,
    exitReport: () => (exit ? `${exit}: ${errors.slice(-2_000) || buffer.slice(-2_000)}` : undefined),
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Peak resident memory of a process (Linux), in MiB. */
export function peakMiB(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** Every derived name of `from` replaced by the one of `to` (longest first), then the slug itself. */
function renamer(from: string, to: string, subscriptionId: string): (text: string) => string {
  const a = deriveNames(from, { subscriptionId }) as unknown as Record<string, unknown>;
  const b = deriveNames(to, { subscriptionId }) as unknown as Record<string, unknown>;
  const pairs = Object.keys(a)
    .filter((key) => typeof a[key] === "string" && typeof b[key] === "string" && a[key] !== b[key])
    .map((key) => [a[key] as string, b[key] as string] as const)
    .sort((x, y) => y[0].length - x[0].length);
  return (text) => {
    let out = text;
    for (const [old, next] of pairs) out = out.split(old).join(next);
    return out.split(from).join(to);
  };
}

export async function runWaveBench(repoRoot: string): Promise<Record<string, unknown>> {
  const count = Number(process.env.BENCH_WAVE_SLUGS ?? 1000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-bench-wave-"));
  const requestLog = path.join(dir, "sandbox-requests.jsonl");
  const sandbox = await startSandbox({
    stateDir: path.join(dir, "sandbox"),
    logFile: requestLog,
    // Seeding is not measured: no throttling until the wave starts. A revision takes 3 s to start.
    faults: { throttleScale: 0, directoryObjectQuota: 1_000_000, revisionStartMs: 3_000 },
  });
  const azurite = await startAzurite(path.join(dir, "azurite"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SHIRE_CLOUD: "Sandbox",
    SHIRE_SANDBOX_PORT: String(sandbox.port),
    SHIRE_SANDBOX_CA_FILE: sandbox.caFile,
    AzureWebJobsStorage: azurite.connectionString,
    SHIRE_UPGRADE_GATE_POLL_MS: "1000",
    SHIRE_WAVE_POLL_MS: "1000",
    // The host's Node options (e.g. a heap limit: --max-old-space-size=512), to tell the live set from garbage V8 has not collected.
    // Default: a 512 MB heap. Without a limit V8 sizes the heap from the machine's memory and
    // collects lazily: the same wave then peaks at about 1.1 GB resident on a 24 GB machine.
    NODE_OPTIONS: process.env.BENCH_HOST_NODE_OPTIONS ?? "--max-old-space-size=512",
  };
  Object.assign(process.env, env);
  const host = await startHost(repoRoot, path.join(dir, "host"), env);
  const hostStateDir = path.join(dir, "host");
  try {
    // 1. The template slug, installed for real.
    const template = "bench-0000";
    const installed = await json<{ operationId: string }>(`${host.url}/api/slugs/${template}/install`, {
      method: "POST",
      body: JSON.stringify({ image: IMAGE("2026.9.5") }),
    });
    for (;;) {
      const operation = await json<{ status: string }>(`${host.url}/api/operations/${installed.body.operationId}`);
      if (operation.body.status !== "running") {
        if (operation.body.status !== "succeeded") throw new Error(`template install ${operation.body.status}`);
        break;
      }
      await sleep(200);
    }
    await sleep(6_000); // Azurite saves its writes up to 5 s late

    // 2. The fleet: clones of the template in the sandbox and in the records.
    const seedStarted = Date.now();
    const store = sandbox.arm.engine.store;
    const subscriptionId = sandbox.env.subscriptionId;
    const groupId = `/subscriptions/${subscriptionId}/resourceGroups/claw-${template}`;
    const originals: StoredResource[] = [
      store.get(groupId)!,
      ...store.all().filter((stored) => stored.resource.id.toLowerCase().startsWith(`${groupId.toLowerCase()}/`)),
    ];
    const records = OperationStore.fromEnv();
    const slugRecord = (await records.getSlug(template))!;
    const applied = (await records.getApplied(template))!;
    const slugs = Array.from({ length: count }, (_, index) => `bench-${String(index).padStart(4, "0")}`);
    for (const slug of slugs.slice(1)) {
      const rename = renamer(template, slug, subscriptionId);
      for (const original of originals) store.put(JSON.parse(rename(JSON.stringify(original))) as StoredResource);
      await records.updateApplied(slug, () => JSON.parse(rename(JSON.stringify(applied))) as AppliedState);
      await records.updateSlug(slug, () => JSON.parse(rename(JSON.stringify(slugRecord))) as SlugRecord);
    }
    // The vault's secrets too: a new revision's replicas resolve their Key Vault references when they start.
    const vaultSecrets = sandbox.keyVault.collections!.find((collection) => collection.name === "keyvault.secrets")!;
    const secretRecords = new Map(vaultSecrets.entries());
    const templateVault = `${deriveNames(template, { subscriptionId }).keyVault.toLowerCase()}/`;
    const templateSecrets = [...secretRecords].filter(([key]) => key.startsWith(templateVault));
    for (const slug of slugs.slice(1)) {
      const rename = renamer(template, slug, subscriptionId);
      for (const [key, entry] of templateSecrets)
        secretRecords.set(rename(key).toLowerCase(), JSON.parse(rename(JSON.stringify(entry))) as unknown);
    }
    vaultSecrets.load(secretRecords);
    sandbox.flush();
    const seedMs = Date.now() - seedStarted;
    await sleep(6_000);

    // 3. The wave, with ARM's real buckets.
    const logStart = fs.existsSync(requestLog) ? fs.statSync(requestLog).size : 0;
    sandbox.setFaults({ throttleScale: 1 });
    const waveStarted = Date.now();
    const started = await json<{ waveId: string }>(`${host.url}/api/waves`, {
      method: "POST",
      body: JSON.stringify({
        image: IMAGE("2026.9.6"),
        selector: { prefix: "bench-" },
        canary: 1,
        batchSize: 100,
        maxParallel: 60,
        maxFailures: 10,
      }),
    });
    if (started.status !== 202) throw new Error(`wave: ${started.status} ${JSON.stringify(started.body)}`);
    const waveId = started.body.waveId;
    const instances = new InstanceStore(hostStateDir, "ShireHub");
    let largestWave = { events: 0, bytes: 0 };
    let lookFailures = 0;
    let record: WaveRecord;
    for (;;) {
      await sleep(2_000);
      try {
        const state = instances.load(waveId);
        const bytes = instances.sizeOf(waveId);
        if (state && (state.history.length > largestWave.events || bytes > largestWave.bytes))
          largestWave = {
            events: Math.max(largestWave.events, state.history.length),
            bytes: Math.max(largestWave.bytes, bytes),
          };
      } catch {
        // Caught mid-rewrite: the next look reads it.
      }
      let current: { status: number; body: WaveRecord };
      try {
        current = await json<WaveRecord>(`${host.url}/api/waves/${waveId}`);
        lookFailures = 0;
      } catch (error) {
        // A dropped keep-alive connection (seen on a loaded machine): look again; a dead host fails the fifth look.
        const gone = host.exitReport();
        if (gone) throw new Error(gone);
        if (++lookFailures >= 5) throw error;
        continue;
      }
      if (current.status === 200 && ["succeeded", "stopped", "canceled", "failed"].includes(current.body.status)) {
        record = current.body;
        break;
      }
      if (Date.now() - waveStarted > 3_600_000) throw new Error("the wave did not finish within an hour");
    }
    const wallMs = Date.now() - waveStarted;
    const peakHostMiB = peakMiB(host.pid);

    // 4. What ARM saw, and the largest history of any instance.
    const lines = fs.readFileSync(requestLog).subarray(logStart).toString("utf8").split("\n").filter(Boolean);
    let writes = 0;
    let reads = 0;
    let throttled = 0;
    for (const line of lines) {
      let entry: { method: string; url: string; status: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue; // a line still being written when the wave ended
      }
      if (!/\/subscriptions\//.test(entry.url)) continue;
      if (entry.status === 429) throttled++;
      else if (entry.method === "GET") reads++;
      else writes++;
    }
    let largest = { instanceId: "", events: 0, bytes: 0 };
    for (const id of instances.ids()) {
      const state = instances.load(id);
      const bytes = instances.sizeOf(id);
      if (state && state.history.length > largest.events)
        largest = { instanceId: id, events: state.history.length, bytes };
    }
    // Each bucket's bound: what the wave spent of it, less what the bucket holds, at its refill rate.
    const boundSeconds = Math.max(0, writes - 200) / 10;
    // (A throttled request takes no token: only the answered reads count.)
    const readBoundSeconds = Math.max(0, reads - 250) / 25;
    const binding = Math.max(boundSeconds, readBoundSeconds);
    const results = {
      slugs: count,
      seedMs,
      wave: {
        id: waveId,
        status: record.status,
        counts: record.counts,
        batches: record.batches,
        wallSeconds: Math.round(wallMs / 100) / 10,
      },
      arm: { writes, reads, throttled429: throttled },
      writeBucketBoundSeconds: boundSeconds,
      wallOverBound: boundSeconds > 0 ? Number((wallMs / 1000 / boundSeconds).toFixed(3)) : null,
      readBucketBoundSeconds: readBoundSeconds,
      wallOverBindingBound: binding > 0 ? Number((wallMs / 1000 / binding).toFixed(3)) : null,
      hostNodeOptions: env.NODE_OPTIONS,
      largestHistory: {
        waveExecution: largestWave,
        anyInstanceAtEnd: largest,
      },
      hostPeakMiB: peakHostMiB,
      hostResidentNote: "VmHWM of the host process (its Azurite and the sandbox are other processes or this one)",
    };
    return results;
  } finally {
    await host.stop();
    await azurite.stop();
    await sandbox.stop();
    removeBenchDir(dir);
  }
}
