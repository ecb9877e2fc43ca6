/**
 * The scheduled rotation's starter and its activities. A timer (`SHIRE_ROTATION_SCHEDULE`,
 * NCRONTAB, default daily at 03:00 UTC; the same on the local host as on Azure) starts one pass
 * of `rotationSchedule` (orchestrations/rotation-schedule.ts) unless the previous one still runs.
 * The pass asks these activities what is due, starts each slug's rotation through the same
 * pipeline as `POST /api/slugs/{slug}/rotate` (lock and state: a busy or retired slug is skipped,
 * never waited for), and watches the rotations it started.
 */
import { app, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { OperationStore, type SlugRecord } from "../operations/records";
import { rotatable, rotationTargets } from "../operations/rotation";
import { DEFAULT_ROTATION_SCHEDULE, rotationPolicyFromEnv, type RotationPolicy } from "../operations/rotation-policy";
import { dueOn, overdueBy } from "../operations/rotation-record";
import { activityDepsFromEnv } from "../../activities/deps";
import { recordRotation } from "../../activities/rotation/record";
import {
  CHECK_SCHEDULED_ROTATIONS,
  FIND_DUE_ROTATIONS,
  ROTATION_SCHEDULE_INSTANCE,
  ROTATION_SCHEDULE_ORCHESTRATION,
  START_SCHEDULED_ROTATION,
  type DueRotation,
  type DueRotations,
  type ScheduleInput,
  type ScheduledRotation,
  type StartOutcome,
} from "../../orchestrations/rotation-schedule";
import { startOperation } from "./pipeline";
import { rotateOperation } from "./rotate";
import { runningOperation } from "./live-status";
import { isInFlight } from "./reconcile";

/** Who the records name as having asked for a scheduled rotation. */
export const SCHEDULE_ACTOR = "rotation schedule";

/** Read a few slugs at a time: vault reads are per vault, and a fleet is read in a minute or two. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export async function findDueRotations(store: OperationStore, policy: RotationPolicy, at: Date): Promise<DueRotations> {
  const skipped: DueRotations["skipped"] = [];
  const due: { rotation: DueRotation; overdue: number }[] = [];
  const slugs = await store.listSlugs();
  await eachLimited(slugs, 8, async (slug: SlugRecord) => {
    if (slug.state !== "installed") {
      // Retired, failed, destroyed, or an operation runs: the next pass finds it again.
      if (slug.state !== "destroyed")
        skipped.push({
          slug: slug.slug,
          reason: slug.state !== "retired" && isInFlight(slug.state) ? `busy (${slug.state})` : slug.state,
        });
      return;
    }
    const targets = rotationTargets(await store.getApplied(slug.slug));
    if (!targets) return;
    // The record, freshly from the vault (it also gives a never-rotated slug its first record).
    const record = await recordRotation(activityDepsFromEnv(slug.subscriptionId), store, policy, {
      slug: slug.slug,
      vaultName: targets.vaultName,
      secrets: targets.secrets.map((secret) => ({ name: secret.name, kind: secret.kind })),
      at: at.toISOString(),
    });
    const rotation = dueOn(record, at);
    const names = new Set(rotatable(targets).map((secret) => secret.name));
    if (rotation)
      due.push({
        rotation: { ...rotation, secrets: rotation.secrets.filter((name) => names.has(name)) },
        overdue: overdueBy(record, at),
      });
  });
  return {
    due: due
      .sort((a, b) => b.overdue - a.overdue || a.rotation.slug.localeCompare(b.rotation.slug))
      .map((entry) => entry.rotation),
    skipped: skipped.sort((a, b) => a.slug.localeCompare(b.slug)),
  };
}

/**
 * Start the slug's rotation through the pipeline; a 409 (busy, or its state changed) is a skip,
 * not a failure. Safe to deliver twice: a rotation this pass already started on the slug (the
 * slug's last operation, by the schedule, since the pass began) is answered, not started again.
 */
async function startScheduledRotation(
  input: DueRotation & { passStartedAt: string },
  context: InvocationContext,
): Promise<StartOutcome> {
  const store = OperationStore.fromEnv();
  const last = await store.getSlug(input.slug);
  const previous = last ? await store.getOperation(last.lastOperationId) : undefined;
  if (previous?.kind === "rotate" && previous.actor === SCHEDULE_ACTOR && previous.createdAt >= input.passStartedAt)
    return { slug: input.slug, operationId: previous.id };
  const response = await startOperation(
    rotateOperation,
    { slug: input.slug, body: { secrets: input.secrets }, actor: SCHEDULE_ACTOR, origin: "" },
    context,
  );
  const body = response.jsonBody as { operationId?: string; error?: { code?: string; message?: string } };
  if (response.status === 202 && body.operationId) return { slug: input.slug, operationId: body.operationId };
  if (response.status === 409 || response.status === 422 || response.status === 400)
    return { slug: input.slug, skipped: `${body.error?.code ?? response.status}: ${body.error?.message ?? ""}`.trim() };
  throw new Error(`Starting the rotation of ${input.slug} answered ${response.status}: ${JSON.stringify(body)}`);
}

/** The started rotations that have ended, with how they ended. */
async function checkScheduledRotations(
  input: { rotations: ScheduledRotation[] },
  context: InvocationContext,
): Promise<ScheduledRotation[]> {
  const client = df.getClient(context);
  const store = OperationStore.fromEnv();
  const ended: ScheduledRotation[] = [];
  for (const rotation of input.rotations) {
    const running = await runningOperation(client, rotation.slug);
    if (running?.operationId === rotation.operationId) continue;
    const record = await store.getOperation(rotation.operationId);
    ended.push({ ...rotation, status: record?.status ?? "unknown" });
  }
  return ended;
}

df.app.activity(FIND_DUE_ROTATIONS, {
  handler: (input: { at: string }) =>
    findDueRotations(OperationStore.fromEnv(), rotationPolicyFromEnv(), new Date(input.at)),
});
df.app.activity(START_SCHEDULED_ROTATION, {
  extraInputs: [df.input.durableClient()],
  handler: startScheduledRotation,
});
df.app.activity(CHECK_SCHEDULED_ROTATIONS, {
  extraInputs: [df.input.durableClient()],
  handler: checkScheduledRotations,
});

/** One pass at a time: a pass still running when the timer fires again is left to finish. */
async function rotateOnSchedule(timer: Timer, context: InvocationContext): Promise<void> {
  const client = df.getClient(context);
  try {
    const previous = await client.getStatus(ROTATION_SCHEDULE_INSTANCE);
    if (["Running", "Pending"].includes(String(previous.runtimeStatus))) {
      context.log(`Scheduled rotation: the previous pass still runs; this occurrence is skipped.`);
      return;
    }
  } catch {
    // No pass yet (getStatus rejects on 404).
  }
  const policy = rotationPolicyFromEnv();
  const input: ScheduleInput = {
    maxParallel: policy.maxParallel,
    startIntervalMs: policy.startIntervalMs,
    pollIntervalMs: Math.max(1_000, Math.min(15_000, policy.startIntervalMs * 5)),
  };
  await client.startNew(ROTATION_SCHEDULE_ORCHESTRATION, { instanceId: ROTATION_SCHEDULE_INSTANCE, input });
  context.log(`Scheduled rotation started${timer.isPastDue ? " (past due)" : ""}.`);
}

app.timer("rotateOnSchedule", {
  // %SETTING% is read by the Functions host (and the local host); without the setting, the default.
  schedule: process.env.SHIRE_ROTATION_SCHEDULE ? "%SHIRE_ROTATION_SCHEDULE%" : DEFAULT_ROTATION_SCHEDULE,
  extraInputs: [df.input.durableClient()],
  handler: rotateOnSchedule,
});
