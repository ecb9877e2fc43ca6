/**
 * The wave orchestration's activities: resolve its slugs, start slugs' upgrades through the one
 * operation pipeline (the same checks as `POST /api/slugs/{slug}/upgrade`: a busy slug is told
 * apart from one that cannot be upgraded), look at how the started ones are doing together with
 * the operator's control, and write the wave's record. Each is idempotent: a start is made under
 * an operation id the wave chose, so a second delivery finds its operation instead of starting
 * another; the reads change nothing; the record write merges.
 */
import * as df from "durable-functions";
import type { InvocationContext } from "@azure/functions";
import type { DurableClient } from "durable-functions";
import { orderWave, selectSlugs } from "../model/wave";
import { createHash } from "node:crypto";
import { OperationStore, newOperationId, type OperationRecord, type UpgradeDetails } from "./records";
import { countSlugs, newWaveRecord, type WaveRecord } from "./waves";
import type { WaveInput } from "../../orchestrations/wave";
import {
  POLL_WAVE,
  RECORD_WAVE,
  RESOLVE_WAVE,
  START_WAVE_UPGRADES,
  type PolledWave,
  type PollWaveInput,
  type RecordWaveInput,
  type ResolvedWave,
  type ResolveWaveInput,
  type SlugOutcome,
  type StartOutcome,
  type StartWaveInput,
} from "../contract/wave";
import { startOperationWith } from "../api/pipeline";
import { upgradeOperation } from "../api/upgrade";
import { runningOperation, withLiveStatus } from "../api/live-status";
import { recordFromInstance } from "../api/operations";

/** An operation as its record says, brought up to date; or as the slug's instance knows it when the record was lost. */
async function operationOf(
  store: OperationStore,
  client: DurableClient,
  operationId: string,
  slug: string,
): Promise<OperationRecord | undefined> {
  const record = await store.getOperation(operationId);
  return record ? withLiveStatus(client, record) : recordFromInstance(client, operationId, slug);
}

/** A wave's operation on a slug: the same for every delivery of the start (found again, never started twice). */
export function waveOperationId(waveId: string, slug: string, attempt: number, startedAt: string): string {
  const random = createHash("sha256").update(`${waveId}/${slug}/${attempt}`).digest("hex").slice(0, 8);
  return newOperationId(slug, new Date(startedAt), random);
}

/** States of another operation that will end by themselves: the slug is busy, not refused. */
const BUSY_STATES = new Set(["installing", "upgrading", "rotating", "retiring", "destroying"]);

export async function resolveWave(store: OperationStore, input: ResolveWaveInput): Promise<ResolvedWave> {
  const known = await store.listSlugs();
  let slugs: string[];
  let unknown: string[] = [];
  if (input.request.slugs) {
    const names = new Set(known.map((record) => record.slug));
    unknown = input.request.slugs.filter((slug) => !names.has(slug));
    slugs = input.request.slugs.filter((slug) => names.has(slug));
  } else {
    slugs = selectSlugs(known, input.request.selector ?? {});
  }
  return { ...orderWave(slugs, input.request.canary), unknown };
}

export async function startWaveUpgrades(
  store: OperationStore,
  client: DurableClient,
  input: StartWaveInput,
  warn: (message: string) => void = () => {},
): Promise<StartOutcome[]> {
  const outcomes: StartOutcome[] = [];
  for (const { slug, attempt } of input.starts) {
    const operationId = waveOperationId(input.waveId, slug, attempt, input.startedAt);
    // Started already (this activity delivered again after its answer was lost)?
    if (
      (await store.getOperation(operationId)) ||
      (await runningOperation(client, slug))?.operationId === operationId
    ) {
      outcomes.push({ slug, result: "started", operationId });
      continue;
    }
    const response = await startOperationWith(
      upgradeOperation,
      {
        slug,
        body: { image: input.image, ...(input.allowMovingTag ? { allowMovingTag: true } : {}) },
        actor: `${input.actor} (wave ${input.waveId})`,
        origin: "",
      },
      client,
      { operationId, warn },
    );
    const status = response.status ?? 200;
    const error = (response.jsonBody as { error?: { code?: string; message?: string; details?: { state?: string } } })
      ?.error;
    if (status === 202) outcomes.push({ slug, result: "started", operationId });
    else if (
      status === 409 &&
      (error?.code === "OperationInProgress" ||
        error?.code === "OperationStopping" ||
        (error?.code === "SlugStateConflict" && BUSY_STATES.has(String(error.details?.state))))
    )
      outcomes.push({ slug, result: "busy", reason: error?.message ?? "busy" });
    else if (status >= 500) throw new Error(`starting the upgrade of ${slug}: ${status} ${error?.message ?? ""}`);
    else outcomes.push({ slug, result: "refused", reason: error?.message ?? `refused (${status})` });
  }
  return outcomes;
}

function outcomeOf(slug: string, record: OperationRecord & { upgrade?: UpgradeDetails }): SlugOutcome {
  if (record.status === "running" || record.status === "notStarted") return { slug, state: "upgrading" };
  if (record.status === "succeeded")
    return { slug, state: "done", ...(record.upgrade?.unchanged ? { reason: "already on the image" } : {}) };
  if (record.upgrade?.rollback)
    return {
      slug,
      state: record.upgrade.rollback.healthy ? "rolledBack" : "failed",
      reason: record.upgrade.rollback.healthy
        ? record.upgrade.rollback.reason
        : `${record.upgrade.rollback.reason}; the rollback did not become healthy`,
    };
  return { slug, state: "failed", reason: record.message };
}

export async function pollWave(
  store: OperationStore,
  client: DurableClient,
  input: PollWaveInput,
): Promise<PolledWave> {
  const wave = await store.getWave<WaveRecord>(input.waveId);
  const outcomes: SlugOutcome[] = [];
  for (const { slug, operationId } of input.running) {
    const record = await operationOf(store, client, operationId, slug);
    // The starter writes the record right after the instance starts: until then it is upgrading.
    outcomes.push(record ? outcomeOf(slug, record) : { slug, state: "upgrading" });
  }
  return { control: wave?.control ?? "run", outcomes };
}

/**
 * The wave's record as its instance knows it, when the record itself is gone (the local host's
 * Azurite can lose the last seconds of writes when it is killed; the instance's history is the
 * source of truth).
 */
async function recoveredRecord(client: DurableClient, waveId: string): Promise<WaveRecord | undefined> {
  let status;
  try {
    status = await client.getStatus(waveId, { showInput: true });
  } catch {
    return undefined;
  }
  const input = status?.input as WaveInput | undefined;
  if (!input?.request) return undefined;
  const created = status.createdTime instanceof Date ? status.createdTime.toISOString() : new Date().toISOString();
  return {
    ...newWaveRecord(waveId, input.request, input.actor, "recovered from the wave's instance", created),
    ...(input.order ? { order: input.order, canaries: input.canaries ?? 0 } : {}),
  };
}

export async function recordWave(
  store: OperationStore,
  client: DurableClient | undefined,
  input: RecordWaveInput,
): Promise<void> {
  const updates = { ...input.updates };
  let base = await store.getWave<WaveRecord>(input.waveId);
  if (!base && client) base = await recoveredRecord(client, input.waveId);
  if (!base) throw new Error(`Wave ${input.waveId} has no record and no instance.`);
  if (input.reconcile && client) {
    const order = input.order ?? base.order ?? (await recoveredRecord(client, input.waveId))?.order;
    const slugs = [...new Set([...(order ?? []), ...Object.keys(base.slugs)])];
    for (const slug of slugs) {
      const entry = updates[slug] ?? base.slugs[slug] ?? { state: "pending" as const };
      if (entry.state !== "pending" && entry.state !== "upgrading") continue;
      for (let attempt = 0; attempt < input.reconcile.attempts; attempt++) {
        const operationId = waveOperationId(input.waveId, slug, attempt, input.reconcile.startedAt);
        const record = await operationOf(store, client, operationId, slug);
        if (!record) continue;
        const outcome = outcomeOf(slug, record);
        updates[slug] = {
          ...entry,
          state: outcome.state,
          operationId,
          ...(outcome.reason ? { reason: outcome.reason } : {}),
        };
      }
    }
  }
  const fallback = base;
  await store.updateWave<WaveRecord>(input.waveId, (stored) => {
    const current = stored ?? fallback;
    const slugs = { ...current.slugs };
    for (const [slug, update] of Object.entries(updates)) slugs[slug] = { ...slugs[slug], ...update };
    return {
      ...current,
      ...(current.order || !fallback.order ? {} : { order: fallback.order, canaries: fallback.canaries }),
      slugs,
      counts: countSlugs(slugs),
      status: input.status,
      message: input.message,
      updatedAt: input.at,
      ...(input.order ? { order: input.order } : {}),
      ...(input.canaries !== undefined ? { canaries: input.canaries } : {}),
      ...(input.batches !== undefined ? { batches: input.batches } : {}),
    };
  });
}

df.app.activity(RESOLVE_WAVE, { handler: (input: ResolveWaveInput) => resolveWave(OperationStore.fromEnv(), input) });
df.app.activity(START_WAVE_UPGRADES, {
  extraInputs: [df.input.durableClient()],
  handler: (input: StartWaveInput, context: InvocationContext) =>
    startWaveUpgrades(OperationStore.fromEnv(), df.getClient(context), input, (message) => context.warn(message)),
});
df.app.activity(POLL_WAVE, {
  extraInputs: [df.input.durableClient()],
  handler: (input: PollWaveInput, context: InvocationContext) =>
    pollWave(OperationStore.fromEnv(), df.getClient(context), input),
});
df.app.activity(RECORD_WAVE, {
  extraInputs: [df.input.durableClient()],
  handler: (input: RecordWaveInput, context: InvocationContext) =>
    recordWave(OperationStore.fromEnv(), df.getClient(context), input),
});
