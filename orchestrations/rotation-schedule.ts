/**
 * `rotationSchedule`: one pass of the scheduled rotation over the fleet (the timer in
 * src/api/rotation-schedule.ts starts it, one at a time: instance `rotation-schedule`).
 *
 * 1. Find what is due (an activity reads every installed slug's vault): secrets older than their
 *    kind's age, and old versions past their grace period. Slugs that are retired, failed or busy
 *    are skipped: the next pass finds them again.
 * 2. Start one `rotate` operation per due slug through the same pipeline as the API (lock, state),
 *    paced: at most `maxParallel` rotations at once and one start every `startIntervalMs`. A slug
 *    that became busy in between is skipped (409), never waited for.
 * 3. Wait for the started rotations to end, and say how each went.
 *
 * Why this pace keeps a fleet inside ARM's and Graph's budgets: a rotation of every kind makes at
 * most four ARM writes (environment storage, restart, two key regenerations) and a few dozen reads
 * (mostly watching replicas), and at most two addPassword and two removePassword calls on Graph;
 * with one start a second, the fleet asks for at most a few writes and a few dozen reads a second,
 * against ARM's 10 writes and 25 reads a second per principal (after buckets of 200 and 250), and
 * Graph's limits per app in thousands of requests per minute. Whatever is throttled still honours
 * Retry-After (the step runner). Deterministic: time from the durable clock, I/O in activities.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler } from "durable-functions";

export const ROTATION_SCHEDULE_ORCHESTRATION = "rotationSchedule";
export const ROTATION_SCHEDULE_INSTANCE = "rotation-schedule";
export const FIND_DUE_ROTATIONS = "findDueRotations";
export const START_SCHEDULED_ROTATION = "startScheduledRotation";
export const CHECK_SCHEDULED_ROTATIONS = "checkScheduledRotations";

export interface ScheduleInput {
  /** The pace (from the app settings when the timer fired). */
  maxParallel: number;
  startIntervalMs: number;
  /** How often the running rotations are looked at while the pass waits for a free slot. */
  pollIntervalMs: number;
}

export interface DueRotation {
  slug: string;
  /** Secrets older than their kind's age; empty: only old versions to disable. */
  secrets: string[];
}

export interface DueRotations {
  due: DueRotation[];
  skipped: { slug: string; reason: string }[];
}

export type StartOutcome = { slug: string; operationId: string } | { slug: string; skipped: string };

export interface ScheduledRotation {
  slug: string;
  operationId: string;
  status?: string;
}

export interface ScheduleOutput {
  due: number;
  rotations: ScheduledRotation[];
  skipped: { slug: string; reason: string }[];
}

const RETRY = new df.RetryOptions(2_000, 5);

const rotationSchedule: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<ScheduleInput>();
  const passStartedAt = context.df.currentUtcDateTime.toISOString();
  const found = (yield context.df.callActivityWithRetry(FIND_DUE_ROTATIONS, RETRY, {
    at: passStartedAt,
  })) as DueRotations;
  const skipped = [...found.skipped];
  const running = new Map<string, ScheduledRotation>();
  const finished: ScheduledRotation[] = [];
  const publish = (phase: string) =>
    context.df.setCustomStatus({
      phase,
      due: found.due.length,
      started: running.size + finished.length,
      running: [...running.values()].map((rotation) => rotation.slug),
      finished: finished.length,
      failed: finished.filter((rotation) => rotation.status !== "succeeded").map((rotation) => rotation.slug),
      skipped: skipped.length,
    });
  const wait = (ms: number) => context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + ms));

  /** Look at the running rotations; those that ended leave the running set. */
  function* settle(): Generator<df.Task, void, unknown> {
    const ended = (yield context.df.callActivityWithRetry(CHECK_SCHEDULED_ROTATIONS, RETRY, {
      rotations: [...running.values()],
    })) as ScheduledRotation[];
    for (const rotation of ended) {
      if (!running.delete(rotation.slug)) continue;
      finished.push(rotation);
    }
  }

  for (const [index, due] of found.due.entries()) {
    while (running.size >= input.maxParallel) {
      publish("waiting for a free slot");
      yield wait(input.pollIntervalMs);
      yield* settle();
    }
    const outcome = (yield context.df.callActivityWithRetry(START_SCHEDULED_ROTATION, RETRY, {
      ...due,
      passStartedAt,
    })) as StartOutcome;
    if ("skipped" in outcome) skipped.push({ slug: outcome.slug, reason: outcome.skipped });
    else running.set(outcome.slug, { slug: outcome.slug, operationId: outcome.operationId });
    publish("starting");
    if (index < found.due.length - 1 && input.startIntervalMs > 0) yield wait(input.startIntervalMs);
  }
  while (running.size > 0) {
    publish("waiting for the last rotations");
    yield wait(input.pollIntervalMs);
    yield* settle();
  }
  publish("done");
  const output: ScheduleOutput = { due: found.due.length, rotations: finished, skipped };
  return output;
};

df.app.orchestration(ROTATION_SCHEDULE_ORCHESTRATION, rotationSchedule);
