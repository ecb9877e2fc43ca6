/**
 * `upgradeWave`: one image across many slugs, one batch per execution (continue-as-new between
 * batches, so the history holds one batch whatever the size of the fleet; the slugs' states are in
 * the wave's record, src/operations/waves.ts).
 *
 *   resolve the slugs (canaries first)                          resolveWave
 *   batch 0 = the canaries: the wave stops if any fails
 *   then batches of `batchSize`, at most `maxParallel` upgrades in flight; each slug's upgrade is
 *   its own operation (orchestrations/upgrade.ts) started through the operation pipeline
 *   a slug busy with another operation goes back in the queue and is tried later (not failed)
 *   failed or rolled-back slugs past `maxFailures` stop the wave; the slugs not started are skipped
 *   ARM's budget: starts are paced by a token bucket counted in upgrades, refilled at the rate the
 *   wave's write and read budgets allow (`writesPerSecond`/`writeBurst` at the writes an upgrade
 *   makes, `readsPerSecond`/`readBurst` at its reads), so the wave stays inside the subscription's
 *   buckets (writes 200 + 10/s, reads 250 + 25/s) instead of meeting them as 429s (those the SDK
 *   and the steps wait out by Retry-After)
 *   pause / resume / cancel: the operator's control in the wave's record, with an external event
 *   to wake the wave; pause stops starting, cancel skips whatever has not started; upgrades in
 *   flight always finish
 *
 * Deterministic: time from `currentUtcDateTime`, waits are durable timers or the control event;
 * operation ids derive from the wave id, the slug and its attempt.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";
import {
  POLL_WAVE,
  RECORD_WAVE,
  RESOLVE_WAVE,
  START_WAVE_UPGRADES,
  WAVE_CONTROL_EVENT,
  type PolledWave,
  type RecordWaveInput,
  type ResolvedWave,
  type StartOutcome,
} from "../src/contract/wave";
import { READS_PER_UPGRADE, WRITES_PER_UPGRADE, type WaveRequest } from "../src/model/wave";
import { MAX_BUSY_ATTEMPTS } from "../src/operations/wave-limits";
import type { WaveControl, WaveSlug, WaveStatus } from "../src/operations/waves";

export const WAVE_ORCHESTRATION = "upgradeWave";

export interface WaveInput {
  waveId: string;
  actor: string;
  request: WaveRequest;
  /** How often in-flight upgrades are looked at. */
  pollMs: number;
  /** When the wave started (operation ids carry it). */
  startedAt?: string;
  order?: string[];
  canaries?: number;
  /** The next slug in `order` no batch has taken. */
  cursor?: number;
  /** Busy slugs to try again, not before a time. */
  retry?: { slug: string; attempts: number; notBefore: string }[];
  failures?: number;
  /** Batches finished. */
  batches?: number;
  bucket?: { tokens: number; at: string };
}

const CALL_RETRY = new df.RetryOptions(1_000, 5);

/** Upgrades per second the wave's ARM budgets allow, and how many may start at once. */
function pace(request: WaveRequest): { rate: number; burst: number } {
  return {
    rate: Math.min(request.writesPerSecond / WRITES_PER_UPGRADE, request.readsPerSecond / READS_PER_UPGRADE),
    burst: Math.max(
      1,
      Math.floor(Math.min(request.writeBurst / WRITES_PER_UPGRADE, request.readBurst / READS_PER_UPGRADE)),
    ),
  };
}

const wave: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<WaveInput>();
  const request = input.request;
  const now = () => context.df.currentUtcDateTime;
  const record = (update: Omit<RecordWaveInput, "waveId" | "at">) =>
    context.df.callActivityWithRetry(RECORD_WAVE, CALL_RETRY, {
      waveId: input.waveId,
      at: now().toISOString(),
      ...update,
    } satisfies RecordWaveInput);

  // First execution: the slugs.
  if (!input.order) {
    const resolved = (yield context.df.callActivityWithRetry(RESOLVE_WAVE, CALL_RETRY, {
      waveId: input.waveId,
      request,
    })) as ResolvedWave;
    const updates: Record<string, WaveSlug> = {};
    for (const [index, slug] of resolved.order.entries())
      updates[slug] = { state: "pending", ...(index < resolved.canaries ? { reason: "canary" } : {}) };
    for (const slug of resolved.unknown) updates[slug] = { state: "skipped", reason: "Shire knows no such slug" };
    if (resolved.missingCanaries.length > 0) {
      // No canary, no wave: going ahead would upgrade the fleet without the check that was asked for.
      const message = `The wave stopped before it started: canary ${resolved.missingCanaries.join(", ")} is not among the wave's slugs (unknown, or not picked by the selector).`;
      for (const slug of resolved.order) updates[slug] = { state: "skipped", reason: message };
      yield record({ updates, order: resolved.order, canaries: 0, batches: 0, status: "stopped", message });
      return { waveId: input.waveId, status: "stopped" };
    }
    const empty = resolved.order.length === 0;
    yield record({
      updates,
      order: resolved.order,
      canaries: resolved.canaries,
      batches: 0,
      status: empty ? "succeeded" : "running",
      message: empty
        ? "No slug to upgrade."
        : `${resolved.order.length} slug(s) to upgrade to ${request.image}${resolved.canaries ? `, ${resolved.canaries} canary(ies) first` : ""}.`,
    });
    if (empty) return { waveId: input.waveId, status: "succeeded" };
    context.df.continueAsNew({
      ...input,
      startedAt: now().toISOString(),
      order: resolved.order,
      canaries: resolved.canaries,
      cursor: 0,
      retry: [],
      failures: 0,
      batches: 0,
      bucket: { tokens: pace(request).burst, at: now().toISOString() },
    } satisfies WaveInput);
    return undefined;
  }

  const order = input.order;
  const canaries = input.canaries ?? 0;
  let cursor = input.cursor ?? 0;
  let retry = [...(input.retry ?? [])];
  let failures = input.failures ?? 0;
  const batchIndex = input.batches ?? 0;
  const startedAt = input.startedAt ?? now().toISOString();
  const { rate, burst } = pace(request);
  let bucket = { ...(input.bucket ?? { tokens: burst, at: now().toISOString() }) };
  const updates: Record<string, WaveSlug> = {};
  const set = (slug: string, update: WaveSlug) => {
    updates[slug] = { ...updates[slug], ...update, batch: batchIndex, updatedAt: now().toISOString() };
  };

  // This batch: the canaries alone, or busy slugs due again and the next ones in order.
  const canaryBatch = batchIndex === 0 && canaries > 0;
  let queue: { slug: string; attempts: number }[];
  if (canaryBatch) {
    queue = order.slice(0, canaries).map((slug) => ({ slug, attempts: 0 }));
    cursor = canaries;
  } else {
    const due = retry.filter((entry) => Date.parse(entry.notBefore) <= now().getTime());
    retry = retry.filter((entry) => !due.includes(entry));
    const room = Math.max(0, request.batchSize - due.length);
    queue = [
      ...due.map((entry) => ({ slug: entry.slug, attempts: entry.attempts })),
      ...order.slice(cursor, cursor + room).map((slug) => ({ slug, attempts: 0 })),
    ];
    cursor = Math.min(order.length, cursor + room);
  }

  let control: WaveControl = "run";
  let stop: string | undefined;
  const running = new Map<string, { operationId: string; attempts: number }>();

  const refill = () => {
    const at = now().getTime();
    bucket = {
      tokens: Math.min(burst, bucket.tokens + ((at - Date.parse(bucket.at)) / 1000) * rate),
      at: now().toISOString(),
    };
  };
  const failureStop = () =>
    canaryBatch && failures > 0
      ? "a canary failed"
      : failures > request.maxFailures
        ? `${failures} slug(s) failed or were rolled back, more than maxFailures (${request.maxFailures})`
        : undefined;

  const publish = (phase: string) =>
    context.df.setCustomStatus({
      waveId: input.waveId,
      phase,
      batch: batchIndex,
      canaryBatch,
      failures,
      running: [...running.keys()],
      queued: queue.length,
      total: order.length,
      cursor,
    });

  // The operator's control as it stands (a wave paused between batches starts nothing).
  control = (
    (yield context.df.callActivityWithRetry(POLL_WAVE, CALL_RETRY, {
      waveId: input.waveId,
      running: [],
    })) as PolledWave
  ).control;
  publish(control === "pause" ? "paused" : "running");
  for (;;) {
    stop ??= failureStop();
    if (control === "cancel") stop ??= "canceled by the operator";
    // Start what may start.
    const starts: { slug: string; attempts: number }[] = [];
    refill();
    while (!stop && control === "run" && queue.length > 0 && running.size + starts.length < request.maxParallel) {
      if (bucket.tokens < 1) break;
      bucket.tokens -= 1;
      const next = queue.shift()!;
      starts.push(next);
    }
    if (starts.length > 0) {
      const outcomes = (yield context.df.callActivityWithRetry(START_WAVE_UPGRADES, CALL_RETRY, {
        waveId: input.waveId,
        actor: input.actor,
        image: request.image,
        allowMovingTag: request.allowMovingTag,
        startedAt,
        starts: starts.map(({ slug, attempts }) => ({ slug, attempt: attempts })),
      })) as StartOutcome[];
      for (const outcome of outcomes) {
        const start = starts.find((candidate) => candidate.slug === outcome.slug)!;
        if (outcome.result === "started") {
          running.set(outcome.slug, { operationId: outcome.operationId, attempts: start.attempts });
          set(outcome.slug, { state: "upgrading", operationId: outcome.operationId });
        } else if (outcome.result === "busy") {
          bucket.tokens += 1; // nothing was written
          const attempts = start.attempts + 1;
          if (attempts >= MAX_BUSY_ATTEMPTS) {
            set(outcome.slug, {
              state: "skipped",
              reason: `still busy after ${attempts} tries: ${outcome.reason}`,
              busyAttempts: attempts,
            });
          } else {
            const delayMs = Math.min(5_000 * 2 ** (attempts - 1), 300_000);
            retry.push({ slug: outcome.slug, attempts, notBefore: new Date(now().getTime() + delayMs).toISOString() });
            set(outcome.slug, {
              state: "pending",
              reason: `busy, tried again later: ${outcome.reason}`,
              busyAttempts: attempts,
            });
          }
        } else {
          bucket.tokens += 1;
          set(outcome.slug, { state: "skipped", reason: outcome.reason });
        }
      }
      publish("running");
      continue;
    }
    if (running.size === 0 && (queue.length === 0 || stop)) break;

    // Wait: for the next look at what runs, for tokens, or (paused, idle) for the operator.
    const paused = control === "pause";
    const idle = running.size === 0;
    const tokenWaitMs =
      !paused && queue.length > 0 && bucket.tokens < 1 ? Math.ceil(((1 - bucket.tokens) / rate) * 1000) : 0;
    const waitMs = paused && idle ? 3_600_000 : idle ? Math.max(tokenWaitMs, 50) : input.pollMs;
    publish(paused ? "paused" : "running");
    yield context.df.Task.any([
      context.df.createTimer(new Date(now().getTime() + waitMs)),
      context.df.waitForExternalEvent(WAVE_CONTROL_EVENT),
    ]);
    const polled = (yield context.df.callActivityWithRetry(POLL_WAVE, CALL_RETRY, {
      waveId: input.waveId,
      running: [...running].map(([slug, { operationId }]) => ({ slug, operationId })),
    })) as PolledWave;
    control = polled.control;
    for (const outcome of polled.outcomes) {
      if (outcome.state === "upgrading") continue;
      running.delete(outcome.slug);
      set(outcome.slug, { state: outcome.state, ...(outcome.reason ? { reason: outcome.reason } : {}) });
      if (outcome.state !== "done") failures++;
    }
  }

  // The batch is over. What did not start stays for later batches, unless the wave stops.
  const remaining = [...queue.map((entry) => entry.slug), ...retry.map((entry) => entry.slug), ...order.slice(cursor)];
  const finished = stop !== undefined || remaining.length === 0;
  if (stop)
    for (const slug of remaining) set(slug, { state: "skipped", reason: `not started: the wave stopped (${stop})` });
  else
    for (const entry of queue)
      retry.push({ slug: entry.slug, attempts: entry.attempts, notBefore: now().toISOString() });
  const status: WaveStatus = !finished
    ? control === "pause"
      ? "paused"
      : "running"
    : stop === "canceled by the operator"
      ? "canceled"
      : stop
        ? "stopped"
        : "succeeded";
  const message = finished
    ? stop
      ? `Wave stopped after batch ${batchIndex}: ${stop}.`
      : `Wave done: every slug's upgrade to ${request.image} has finished.`
    : `Batch ${batchIndex}${canaryBatch ? " (canaries)" : ""} done; ${remaining.length} slug(s) to go.`;
  yield record({
    updates,
    status,
    message,
    batches: batchIndex + 1,
    ...(finished ? { reconcile: { startedAt, attempts: MAX_BUSY_ATTEMPTS } } : {}),
  });
  publish(status);
  if (finished) return { waveId: input.waveId, status, message };

  // Busy slugs only, none due yet: wait for the first.
  if (cursor >= order.length && retry.length > 0 && queue.length === 0) {
    const first = Math.min(...retry.map((entry) => Date.parse(entry.notBefore)));
    if (first > now().getTime()) yield context.df.createTimer(new Date(first));
  }
  context.df.continueAsNew({
    ...input,
    startedAt,
    cursor,
    retry,
    failures,
    batches: batchIndex + 1,
    bucket,
  } satisfies WaveInput);
  return undefined;
};

df.app.orchestration(WAVE_ORCHESTRATION, wave);
