/**
 * `npm run chaos`: a check, not a benchmark. CHAOS_SLUGS slugs (default 20) each go through the
 * operations their plan names (bench/chaos/plan.ts: install, upgrade, rotate, teardown with purge)
 * at once, through the HTTP API, while
 *
 * - the sandbox fails 20% of requests transiently (the `flaky` preset: 500, 503, reset
 *   connections; 1 s Entra replication and RBAC propagation), with long-running operations slow
 *   enough for kills to land inside them;
 * - the host delivers every activity twice (`SHIRE_FAULT_DUPLICATE_ACTIVITIES=1`);
 * - the host process is killed (SIGKILL) at seeded random times and started again on the same
 *   state directory and port, its clients riding it out (bench/chaos/client.ts).
 *
 * Then it checks that every slug is in its plan's end state, that nothing of a destroyed slug is
 * left in the sandbox (bar what Azure keeps by design), that no secret value is in the host's
 * state directory (durable histories, Azurite's files), in the records read through Azurite, in
 * the host's output or in the sandbox's request log, and that no retried start made a second
 * operation. One summary line; JSON in bench/results/chaos.json; exit 1 when an invariant fails,
 * listing what is off. The sandbox and host are started as the e2e suites start them
 * (test/fixtures/host-process.ts: the host as `dist/src/runtime/cli.js start --no-sandbox`,
 * Azurite under it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { faultPreset, startSandbox } from "../src/sandbox";
import { SeededRandom } from "../src/sandbox/faults";
import { azuriteLocation, freePort, startAzurite } from "../src/runtime/azurite";
import { AzureClients } from "../src/azure/clients";
import { SANDBOX_SUBSCRIPTION_IDS } from "../src/azure/credential";
import { OperationStore } from "../src/operations/records";
import { rotatable, rotationTargets } from "../src/operations/rotation";
import { appSandboxEnv, REPO_ROOT, startHostProcess } from "../test/fixtures/host-process";
import { footprint } from "../test/e2e/harness";
import { credentialProblems } from "../test/fixtures/rotation";
import { SecretScanner, type SecretHit } from "../test/fixtures/secret-scan";
import { ChaosClient, newCounters, type OperationView } from "./chaos/client";
import { chaosPlans, NEW_IMAGE, stepRequest, type ChaosStep, type SlugPlan } from "./chaos/plan";
import {
  KEPT_BY_DESIGN,
  leftovers,
  slugMarkers,
  slugSecretValues,
  vaultValues,
  type SlugMarkers,
} from "./chaos/checks";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(value) && value >= 0 ? value : fallback;
}

interface OperationOutcome {
  step: ChaosStep;
  operationId: string;
  status: string;
  seconds: number;
  failedSteps?: { id: string; error?: string }[];
}

interface SlugOutcome {
  plan: SlugPlan;
  operations: OperationOutcome[];
  /** Operations a retried start found beside the one it followed (must stay empty). */
  duplicates: string[];
  /** Secret values just before the rotation. */
  beforeRotation?: Record<string, string>;
  markers?: SlugMarkers;
  error?: string;
}

/** The host process, killed and started again by the run; `logs` keeps every incarnation's output. */
class HostUnderTest {
  private current?: Awaited<ReturnType<typeof startHostProcess>>;
  readonly logs: string[] = [];
  starts = 0;

  constructor(
    readonly stateDir: string,
    private readonly env: Record<string, string>,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    this.current = await startHostProcess(this.stateDir, this.env, { port: this.port });
    this.starts++;
  }

  async kill(): Promise<void> {
    const host = this.current!;
    host.child.kill("SIGKILL");
    await host.exited;
    this.logs.push(...host.logs);
  }

  async stop(): Promise<void> {
    const host = this.current!;
    await host.stop();
    this.logs.push(...host.logs);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
}

async function main(): Promise<number> {
  const begun = Date.now();
  const count = numberFromEnv("CHAOS_SLUGS", 20);
  const seed = numberFromEnv("CHAOS_SEED", 20261204);
  const transientRate = numberFromEnv("CHAOS_TRANSIENT_RATE", 0.2);
  const budgetMs = numberFromEnv("CHAOS_BUDGET_SECONDS", 420) * 1000;
  const killMinMs = numberFromEnv("CHAOS_KILL_MIN_SECONDS", 5) * 1000;
  const killMaxMs = numberFromEnv("CHAOS_KILL_MAX_SECONDS", 15) * 1000;
  const random = new SeededRandom(seed);
  const plans = chaosPlans(count);
  const deadline = begun + budgetMs;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-chaos-"));
  const sandboxDir = path.join(dir, "sandbox");
  const requestLog = path.join(dir, "sandbox-requests.jsonl");
  const sandbox = await startSandbox({
    stateDir: sandboxDir,
    logFile: requestLog,
    faults: {
      ...faultPreset("flaky"),
      transientRate,
      seed,
      // Slow enough that kills land inside long-running operations and revision starts.
      lroDurationMs: {
        "Microsoft.App/managedEnvironments": 1_500,
        "Microsoft.App/containerApps": 1_000,
        "Microsoft.Storage/storageAccounts": 500,
        "Microsoft.Resources/resourceGroups": 1_000,
      },
      revisionStartMs: 500,
      replicaStartMs: 300,
      // One principal's 250 objects hold 83 slugs' worth (three each; torn-down slugs' objects count
      // until purged); larger runs need more (docs/sandbox.md).
      ...(count > 45 ? { directoryObjectQuota: count * 6 } : {}),
      // The pool's three subscriptions hold 45 environments in one region; a larger run needs more.
      ...(count > 45 ? { environmentsPerRegion: count } : {}),
    },
  });
  const host = new HostUnderTest(
    path.join(dir, "host"),
    {
      ...appSandboxEnv(sandbox),
      SHIRE_FAULT_DUPLICATE_ACTIVITIES: "1",
      SHIRE_UPGRADE_GATE_TIMEOUT_MS: "60000",
      SHIRE_UPGRADE_GATE_POLL_MS: "250",
      // The daily schedule would rotate slugs behind the plans' back: once a year, on 1 January.
      SHIRE_ROTATION_SCHEDULE: "0 0 3 1 1 *",
      // The broker's preflight of the quota follows the sandbox's.
      ...(count > 45 ? { SHIRE_DIRECTORY_OBJECT_QUOTA: String(count * 6) } : {}),
      // Every subscription of the sandbox's tenant: past the first's 15 environments a region, slugs go to the next.
      SHIRE_PLACEMENT_POOL: JSON.stringify(SANDBOX_SUBSCRIPTION_IDS.map((subscriptionId) => ({ subscriptionId }))),
      ...(count > 45 ? { SHIRE_ENVIRONMENTS_PER_REGION: String(count) } : {}),
    },
    await freePort(),
  );
  await host.start();
  const counters = newCounters();
  const client = new ChaosClient(host.url, counters);
  const secretsSeen = new Set<string>();
  const remember = () => vaultValues(sandbox).forEach((value) => secretsSeen.add(value));

  // The killer: SIGKILL at seeded random times while plans run, a pause (clients are refused), start
  // again. Every other kill is aimed: it lands 0-120 ms after the next start is sent, so some starts
  // lose their answer (the operation may or may not have started) and the client must find out which.
  let finished = false;
  let startSent: (() => void) | undefined;
  client.onStart = () => startSent?.();
  const kills: { atSeconds: number; downMs: number; aimedAtStart: boolean }[] = [];
  const killer = (async () => {
    for (;;) {
      const wait = killMinMs + random.next() * (killMaxMs - killMinMs);
      const until = Date.now() + wait;
      while (!finished && Date.now() < until) await sleep(100);
      if (finished || Date.now() > deadline) return;
      const aimed = kills.length % 2 === 1;
      if (aimed) {
        const sent = new Promise<boolean>((resolve) => (startSent = () => resolve(true)));
        const landed = await Promise.race([sent, sleep(killMaxMs).then(() => false)]);
        startSent = undefined;
        if (!landed && finished) return;
        await sleep(Math.floor(random.next() * 120));
      }
      const downMs = 200 + Math.floor(random.next() * 2_000);
      await host.kill();
      kills.push({ atSeconds: Math.round((Date.now() - begun) / 1000), downMs, aimedAtStart: aimed });
      await sleep(downMs);
      await host.start();
    }
  })();

  const runSlug = async (plan: SlugPlan, delayMs: number): Promise<SlugOutcome> => {
    const outcome: SlugOutcome = { plan, operations: [], duplicates: [] };
    const known = new Set<string>();
    await sleep(delayMs);
    try {
      for (const step of plan.steps) {
        if (step === "rotate") outcome.beforeRotation = slugSecretValues(sandbox, plan.slug);
        if (step === "teardown") outcome.markers = slugMarkers(sandbox, plan.slug);
        const { route, body } = stepRequest(plan, step);
        const stepStarted = Date.now();
        const operationId = await client.start(plan.slug, step, route, body, known, deadline, outcome.duplicates);
        const record: OperationView = await client.follow(operationId, deadline);
        remember();
        outcome.operations.push({
          step,
          operationId,
          status: record.status,
          seconds: Math.round((Date.now() - stepStarted) / 100) / 10,
          ...(record.status === "succeeded"
            ? {}
            : {
                failedSteps: record.steps
                  .filter((s) => s.status !== "done")
                  .map((s) => ({ id: s.id, status: s.status, error: s.error })),
              }),
        });
        if (record.status !== "succeeded") break;
      }
    } catch (error) {
      outcome.error = (error as Error).message;
    }
    return outcome;
  };
  const outcomes = await Promise.all(plans.map((plan, index) => runSlug(plan, index * 300)));
  finished = true;
  await killer;
  const operationsSeconds = Math.round((Date.now() - begun) / 1000);
  remember();

  // Checks. The sandbox answers them without faults; the host is up (the killer has stopped).
  sandbox.setFaults({ transientRate: 0 });
  const problems: string[] = [];
  const checkDeadline = Date.now() + 60_000;
  for (const outcome of outcomes) {
    const { slug } = outcome.plan;
    if (outcome.error) problems.push(`${slug}: ${outcome.error}`);
    for (const operation of outcome.operations)
      if (operation.status !== "succeeded")
        problems.push(
          `${slug}: ${operation.step} ${operation.operationId} ${operation.status}: ${JSON.stringify(operation.failedSteps)}`,
        );
    if (outcome.duplicates.length > 0)
      problems.push(`${slug}: a retried start found a second operation: ${outcome.duplicates.join(", ")}`);
    const record = await client.get<{ state?: string; version?: string | null }>(`slugs/${slug}`, checkDeadline);
    const expected = outcome.plan.end;
    if (record.body.state !== expected) problems.push(`${slug}: state ${record.body.state}, planned ${expected}`);
    if (expected === "installed" && record.body.version !== NEW_IMAGE)
      problems.push(`${slug}: version ${record.body.version}, planned ${NEW_IMAGE}`);
    // Every operation in the slug's journal is one the plan started (no second one from a retried start).
    const journal = await client.get<{ operations?: { id: string; kind: string }[] }>(
      `operations?slug=${slug}`,
      checkDeadline,
    );
    const started = new Set(outcome.operations.map((operation) => operation.operationId));
    for (const entry of journal.body.operations ?? [])
      if (!started.has(entry.id))
        problems.push(`${slug}: operation ${entry.id} (${entry.kind}) the plan did not start`);
    for (const id of started)
      if (!(journal.body.operations ?? []).some((entry) => entry.id === id))
        problems.push(`${slug}: operation ${id} missing from the journal`);
  }
  const running = await client.get<{ instanceId: string; runtimeStatus: string }[]>(
    "../runtime/webhooks/durabletask/instances?runtimeStatus=Running&runtimeStatus=Pending",
    checkDeadline,
  );
  for (const instance of Array.isArray(running.body) ? running.body : [])
    problems.push(`durable instance ${instance.instanceId} still ${instance.runtimeStatus} at the end`);
  await host.stop();

  // The records, straight from Azurite (the host's own location), for the rotation targets and the secret scan.
  const azurite = await startAzurite(azuriteLocation(host.stateDir));
  const records: { name: string; text: string }[] = [];
  const installedChecks: Record<string, string[]> = {};
  const placed: Record<string, number> = {};
  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    for await (const container of service.listContainers())
      for await (const blob of service.getContainerClient(container.name).listBlobsFlat()) {
        const bytes = await service.getContainerClient(container.name).getBlobClient(blob.name).downloadToBuffer();
        records.push({ name: `${container.name}/${blob.name}`, text: bytes.toString("utf8") });
      }
    const store = new OperationStore(azurite.connectionString);
    const clients = new AzureClients(sandbox.context());
    const references: Record<string, { slug: string; footprint: string }> = {};
    // Where placement put each slug: the pool fills its first subscription's 15 environments, then the next.
    const subscriptionOf: Record<string, string | undefined> = {};
    for (const outcome of outcomes) {
      const subscription = (await store.getSlug(outcome.plan.slug))?.subscriptionId;
      subscriptionOf[outcome.plan.slug] = subscription;
      placed[subscription ?? "none"] = (placed[subscription ?? "none"] ?? 0) + 1;
    }
    for (const outcome of outcomes.filter((entry) => entry.plan.end === "installed")) {
      const { slug, teams } = outcome.plan;
      const slugProblems: string[] = [];
      const targets = rotationTargets(await store.getApplied(slug));
      if (!targets) slugProblems.push("no applied state to find its secrets from");
      else {
        const rotated = rotatable(targets).map((secret) => secret.name);
        slugProblems.push(
          ...(await credentialProblems(sandbox, clients, targets, {
            before: outcome.beforeRotation,
            rotated,
            subscriptionId: subscriptionOf[slug],
          })),
        );
        const app = (
          sandbox.inspect() as {
            arm: {
              resources: { id: string; type: string; properties: { template: { containers: { image: string }[] } } }[];
            };
          }
        ).arm.resources.find(
          (resource) =>
            resource.type === "Microsoft.App/containerApps" && resource.id.includes(`/resourceGroups/claw-${slug}/`),
        );
        const image = app?.properties.template.containers[0]?.image;
        if (image !== NEW_IMAGE) slugProblems.push(`the app runs ${image}, planned ${NEW_IMAGE}`);
      }
      // The same footprint as the first installed slug of its variant (nothing twice, nothing missing).
      const variant = teams ? "teams" : "plain";
      const normalised = JSON.stringify(footprint(sandbox, slug)).replaceAll(slug, "<slug>");
      references[variant] ??= { slug, footprint: normalised };
      if (references[variant].footprint !== normalised)
        slugProblems.push(`its footprint differs from ${references[variant].slug}'s`);
      installedChecks[slug] = slugProblems;
      problems.push(...slugProblems.map((problem) => `${slug}: ${problem}`));
    }
    for (const outcome of outcomes.filter((entry) => entry.plan.end === "destroyed")) {
      const left = footprint(sandbox, outcome.plan.slug);
      const entra = (left.entra as string[]).filter((entry) => !entry.includes(":shire-admins:"));
      if (
        (left.resources as string[]).length > 0 ||
        entra.length > 0 ||
        (left.secrets as string[]).length > 0 ||
        left.website
      )
        problems.push(`${outcome.plan.slug}: footprint left after teardown: ${JSON.stringify(left)}`);
    }
  } finally {
    await azurite.stop();
  }
  const registry = sandbox.env.secrets.all();
  await sandbox.stop();

  // Orphans: every record of every collection the sandbox keeps, against the destroyed slugs' markers.
  const destroyed = outcomes
    .filter((outcome) => outcome.plan.end === "destroyed")
    .map((outcome) => outcome.markers ?? slugMarkers(sandbox, outcome.plan.slug));
  const { orphans, kept } = leftovers(sandboxDir, destroyed);
  for (const orphan of orphans) problems.push(`orphan of ${orphan.slug} in ${orphan.collection}: ${orphan.key}`);

  // Secrets: every value the vaults held during the run (and everything else the sandbox minted).
  const scanner = new SecretScanner([...secretsSeen, ...registry]);
  const hits: SecretHit[] = [];
  const stateScan = scanner.scanDir(host.stateDir);
  hits.push(...stateScan.hits);
  for (const record of records) hits.push(...scanner.scanText(record.text, `azurite:${record.name}`));
  hits.push(...scanner.scanText(host.logs.join(""), "host output"));
  hits.push(...scanner.scan(fs.readFileSync(requestLog)).map((secret) => ({ where: requestLog, secret })));
  for (const hit of hits) problems.push(`secret ${hit.secret} found in ${hit.where}`);

  const operations = outcomes.flatMap((outcome) => outcome.operations);
  const byStatus = (status: string) => operations.filter((operation) => operation.status === status).length;
  const offPlan = outcomes.filter(
    (outcome) =>
      outcome.error ||
      problems.some(
        (problem) => problem.startsWith(`${outcome.plan.slug}:`) || problem.includes(` of ${outcome.plan.slug} `),
      ),
  ).length;
  const wallSeconds = Math.round((Date.now() - begun) / 1000);
  const results = {
    when: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    seed,
    slugs: count,
    plans: Object.fromEntries(
      ["destroyed", "installed"].map((end) => [end, plans.filter((plan) => plan.end === end).length]),
    ),
    faults: { transientRate, duplicateActivityDelivery: true, hostKills: kills.length },
    wallSeconds,
    operationsSeconds,
    operations: {
      total: operations.length,
      succeeded: byStatus("succeeded"),
      failed: operations.length - byStatus("succeeded"),
    },
    client: counters,
    kills,
    hostStarts: host.starts,
    slugsOffPlan: offPlan,
    placedBySubscription: placed,
    orphans: orphans.length,
    keptByDesign: {
      records: kept.length,
      collections: Object.fromEntries(
        Object.keys(KEPT_BY_DESIGN).map((name) => [name, kept.filter((entry) => entry.collection === name).length]),
      ),
      why: KEPT_BY_DESIGN,
    },
    secretScan: {
      values: scanner.size,
      vaultValues: secretsSeen.size,
      hostStateFiles: stateScan.files,
      hostStateBytes: stateScan.bytes,
      azuriteRecords: records.length,
      requestLogBytes: fs.statSync(requestLog).size,
      hits: hits.length,
    },
    sandboxRequests: fs.readFileSync(requestLog, "utf8").split("\n").length - 1,
    perSlug: outcomes.map((outcome) => ({
      slug: outcome.plan.slug,
      teams: outcome.plan.teams,
      steps: outcome.plan.steps,
      end: outcome.plan.end,
      operations: outcome.operations,
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(installedChecks[outcome.plan.slug]?.length ? { problems: installedChecks[outcome.plan.slug] } : {}),
    })),
    problems,
    stateDir: dir,
  };
  const out = path.join(REPO_ROOT, "bench", "results");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "chaos.json"), `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `chaos: ${count} slugs (${results.plans.installed} to stay installed, ${results.plans.destroyed} to destroy), ${operations.length} operations (${results.operations.failed} failed), ${kills.length} host kills, ${counters.unreachable} refused or dropped requests, ${counters.lostStarts} lost starts (${counters.adoptedAfterLoss} followed, not started again), ${counters.busy} busy 409s, ${Math.round(transientRate * 100)}% transient faults, every activity delivered twice; ${offPlan} slugs off plan (placed in ${Object.keys(placed).length} subscription(s)), ${orphans.length} orphans (${kept.length} records kept by design), ${hits.length} secrets found in stored state (${scanner.size} values searched); ${wallSeconds} s`,
  );
  if (problems.length > 0) {
    console.log(`FAILED: ${problems.length} problem(s):`);
    for (const problem of problems.slice(0, 50)) console.log(`  ${problem}`);
    if (problems.length > 50) console.log(`  ... and ${problems.length - 50} more (bench/results/chaos.json)`);
    console.log(`state kept for a look: ${dir}`);
    return 1;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
