/**
 * `upgradeSlug`: move one slug to another OpenClaw image.
 *
 *   record what runs (image, latest ready revision)            getAppRevision
 *   -> nothing to do when it runs that image already, healthy   (re-running changes nothing)
 *   -> snapshot the state share, its id on the operation        snapshotStateShare
 *   -> converge the Container App node of the slug's plan with the new image (the plan walker; the
 *      seed init container migrates the state with `doctor --fix` when the OpenClaw version
 *      changes, and the channel plugins follow the version's pins). Never two gateways on the
 *      share: the state lease hands it over from the old revision's gateway to the new one's
 *      (docs/state.md).
 *   -> health gate: the new revision provisioned, running, healthy (its readiness probe, which
 *      reads the gateway's JSON readiness answer, passes) and taking the traffic, within a timeout
 *   -> on a failed gate, roll back: the previous app (its image, its plugin pins), restoring the
 *      share from the snapshot when the migration ran, then the gate again for the old revision;
 *      the operation says why.
 *
 * Deterministic: time from `currentUtcDateTime`, waits are durable timers, no I/O.
 */
import * as df from "durable-functions";
import type { OrchestrationContext, OrchestrationHandler, Task } from "durable-functions";
import type { Outputs } from "../src/contract/reference";
import type { ContainerAppDesired } from "../src/contract/resources";
import {
  CHECK_REVISION_HEALTH,
  GET_APP_REVISION,
  SNAPSHOT_STATE_SHARE,
  type AppRef,
  type AppRevision,
  type RevisionHealth,
  type ShareRef,
  type SnapshotResult,
} from "../src/contract/upgrade";
import type { SlugSpec } from "../src/model/spec";
import { migratesState, withStateRestore } from "../src/model/upgrade";
import type { AppliedNode, OperationStep, UpgradeDetails } from "../src/operations/records";
import { walkPlan, type WalkStep } from "./plan-walker";
import {
  checkOperationInput,
  recordProgress,
  recordResult,
  type OperationInput,
  type OperationOutput,
  type Outcome,
} from "./operation";
import "./step-runner"; // registers the step instances the walker starts

export const UPGRADE_ORCHESTRATION = "upgradeSlug";

export interface GateSettings {
  /** How long a new revision has to become ready. */
  timeoutMs: number;
  /** How often the gate looks. */
  pollMs: number;
}

/** Start-up probe allowance (10 + 60 x 5 s), an image pull and a plugin install: ten minutes. */
export const DEFAULT_GATE: GateSettings = { timeoutMs: 600_000, pollMs: 15_000 };

export interface UpgradeInput extends OperationInput {
  kind: "upgrade";
  image: string;
  /** The slug's spec with the new image (what the footprint follows once the upgrade succeeded). */
  spec: SlugSpec;
  resourceGroup: string;
  app: AppRef;
  share: ShareRef;
  /** The plan's Container App node with the new image (`awaitRevision: false`: the gate waits). */
  step: WalkStep;
  /** What the app was converged to before, references resolved: the rollback's target. */
  previous: ContainerAppDesired;
  /** Outputs of the slug's applied nodes, for the node's references. */
  knownOutputs: Record<string, Outputs>;
  gate: GateSettings;
}

/** Reads and the snapshot are idempotent: a short retry covers throttling and blips. */
const CALL_RETRY = new df.RetryOptions(2_000, 5);

const upgrade: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = checkOperationInput<UpgradeInput>(context.df.getInput(), "upgrade", [
    "image",
    "spec",
    "app",
    "share",
    "step",
    "previous",
  ]);
  const now = () => context.df.currentUtcDateTime;
  const steps: OperationStep[] = [];
  const details: UpgradeDetails = { toImage: input.image };
  const publish = (phase: string) =>
    context.df.setCustomStatus({
      operationId: input.operationId,
      slug: input.slug,
      kind: "upgrade",
      phase,
      steps: steps.map((step) => ({ ...step })),
      upgrade: { ...details },
    });
  const begin = (id: string, title: string, kind?: string): OperationStep => {
    const step: OperationStep = {
      id,
      title,
      ...(kind ? { kind } : {}),
      status: "running",
      startedAt: now().toISOString(),
    };
    steps.push(step);
    publish("running");
    return step;
  };
  const end = (step: OperationStep, status: OperationStep["status"], extra: Partial<OperationStep> = {}) => {
    step.status = status;
    step.finishedAt = now().toISOString();
    step.durationMs = Date.parse(step.finishedAt) - Date.parse(step.startedAt!);
    Object.assign(step, extra);
  };

  // 1. What runs now.
  const inspect = begin("inspect", "Record the running image and revision");
  const before = (yield context.df.callActivityWithRetry(GET_APP_REVISION, CALL_RETRY, input.app)) as AppRevision;
  if (!before.exists) {
    end(inspect, "failed", { error: `container app ${input.app.name} does not exist` });
    return yield* finish(
      context,
      input,
      steps,
      details,
      "failed",
      `Upgrade of ${input.slug} failed: its container app does not exist; install it again.`,
    );
  }
  details.fromImage = before.image;
  details.fromRevision = before.latestReadyRevisionName;
  end(inspect, "done", { action: "read" });

  // Already there: nothing changes (no snapshot, no write, no revision).
  if (before.image === input.image && before.healthy) {
    details.unchanged = true;
    details.toRevision = before.latestRevisionName;
    return yield* finish(
      context,
      input,
      steps,
      details,
      "succeeded",
      `${input.slug} already runs ${input.image} (revision ${before.latestRevisionName}): nothing changed.`,
      { spec: input.spec, image: input.image },
    );
  }

  // 2. Snapshot the state share before anything changes.
  const snapshotStep = begin("snapshot", `Snapshot the state share ${input.share.shareName}`, "fileShare");
  let snapshot: SnapshotResult;
  try {
    snapshot = (yield context.df.callActivityWithRetry(SNAPSHOT_STATE_SHARE, CALL_RETRY, {
      ...input.share,
      operationId: input.operationId,
    })) as SnapshotResult;
  } catch (error) {
    end(snapshotStep, "failed", { error: errorMessage(error) });
    return yield* finish(
      context,
      input,
      steps,
      details,
      "failed",
      `Upgrade of ${input.slug} to ${input.image} did not start: the state share could not be snapshotted (${errorMessage(error)}). Nothing was changed.`,
      { settledState: "installed" },
    );
  }
  details.snapshot = snapshot.snapshotTime;
  end(snapshotStep, "done", {
    action: snapshot.created ? "created" : "unchanged",
    notes: [`snapshot ${snapshot.snapshotTime}`],
  });
  yield* recordProgress(context, input, "upgrading", {
    message: `Upgrading ${input.slug} from ${before.image} to ${input.image}; state share snapshot ${snapshot.snapshotTime}.`,
    steps: steps.map((step) => ({ ...step })),
    upgrade: { ...details },
  });

  // 3. The new revision, through the plan walker.
  const walk = yield* walkPlan(context, [input.step], {
    operationId: input.operationId,
    slug: input.slug,
    subscriptionId: input.subscriptionId,
    kind: "upgrade",
    stage: "deploy",
    retry: input.retry,
    knownOutputs: input.knownOutputs,
  });
  steps.push(...walk.steps);
  const deployed = walk.results[input.step.id];
  const newRevision = deployed?.outputs.latestRevisionName;
  const revisionChanged = typeof newRevision === "string" && newRevision !== before.latestRevisionName;
  details.toRevision = typeof newRevision === "string" ? newRevision : undefined;
  details.migrated = revisionChanged && migratesState(before.image, input.image);

  // 4. Health gate (skipped when the deploy itself failed: roll back at once).
  let reason: string | undefined;
  if (walk.canceled) reason = "the upgrade was canceled";
  else if (walk.failed.length > 0)
    reason = `the new revision could not be deployed: ${walk.steps.find((step) => step.status === "failed")?.error ?? "failed"}`;
  else {
    const gate = yield* healthGate(
      context,
      input,
      input.image,
      details.toRevision,
      "healthGate",
      "Health gate: the new revision provisioned, running, healthy",
      steps,
      begin,
      end,
    );
    if (gate.phase !== "ready") reason = `the health gate failed: ${gate.detail}`;
  }
  if (!reason) {
    return yield* finish(
      context,
      input,
      steps,
      details,
      "succeeded",
      `Upgrade of ${input.slug} to ${input.image} done: revision ${details.toRevision} is healthy.`,
      { spec: input.spec, image: input.image, applied: appliedOf(walk.applied) },
    );
  }

  // 5. Roll back: the previous app, and the state from the snapshot if the migration ran.
  const restore = details.migrated === true;
  const rollbackDesired = restore ? withStateRestore(input.previous, snapshot.snapshotTime) : input.previous;
  const rollbackWalk = yield* walkPlan(
    context,
    [
      {
        ...input.step,
        id: "rollback",
        title: `Roll back to ${details.fromImage}${restore ? ", restoring the state share" : ""}`,
        desired: { ...rollbackDesired, awaitRevision: false },
      },
    ],
    {
      operationId: input.operationId,
      slug: input.slug,
      subscriptionId: input.subscriptionId,
      kind: "upgrade",
      stage: "rollback",
      retry: input.retry,
    },
  );
  steps.push(...rollbackWalk.steps);
  const previousImage = details.fromImage ?? "the previous image";
  let healthy = false;
  if (rollbackWalk.failed.length === 0 && !rollbackWalk.canceled) {
    const gate = yield* healthGate(
      context,
      input,
      previousImage,
      typeof rollbackWalk.results.rollback?.outputs.latestRevisionName === "string"
        ? rollbackWalk.results.rollback.outputs.latestRevisionName
        : undefined,
      "rollbackGate",
      "Health gate: the rolled-back revision",
      steps,
      begin,
      end,
    );
    healthy = gate.phase === "ready";
  }
  const rolledBackRevision = rollbackWalk.results.rollback?.outputs.latestRevisionName;
  details.rollback = {
    reason,
    toImage: previousImage,
    ...(typeof rolledBackRevision === "string" ? { revision: rolledBackRevision } : {}),
    ...(restore ? { restoredSnapshot: snapshot.snapshotTime } : {}),
    healthy,
  };
  const message =
    `Upgrade of ${input.slug} to ${input.image} rolled back to ${previousImage}: ${reason}.` +
    (restore
      ? ` The state share was restored from snapshot ${snapshot.snapshotTime} (the migration had run).`
      : " The state was not migrated; no restore was needed.") +
    (healthy
      ? " The slug runs its previous image again."
      : " The rollback did not become healthy: the slug needs attention.");
  return yield* finish(context, input, steps, details, "failed", message, {
    settledState: healthy ? "installed" : "failed",
    applied: appliedOf(rollbackWalk.applied, "rollback", input.step.id),
  });
};

/** The app as the walk converged it, under its plan node's id and without the gate flag. */
function appliedOf(applied: Record<string, AppliedNode>, from?: string, to?: string): Record<string, AppliedNode> {
  const out: Record<string, AppliedNode> = {};
  for (const [id, node] of Object.entries(applied)) {
    const { awaitRevision: _flag, ...desired } = node.desired as ContainerAppDesired;
    out[from && id === from ? to! : id] = { ...node, desired };
  }
  return out;
}

function* healthGate(
  context: OrchestrationContext,
  input: UpgradeInput,
  image: string,
  revisionName: string | undefined,
  id: string,
  title: string,
  _steps: OperationStep[],
  begin: (id: string, title: string, kind?: string) => OperationStep,
  end: (step: OperationStep, status: OperationStep["status"], extra?: Partial<OperationStep>) => void,
): Generator<Task, RevisionHealth, unknown> {
  const step = begin(id, title);
  const deadline = context.df.currentUtcDateTime.getTime() + input.gate.timeoutMs;
  for (let looks = 1; ; looks++) {
    let health: RevisionHealth;
    try {
      health = (yield context.df.callActivityWithRetry(CHECK_REVISION_HEALTH, CALL_RETRY, {
        ...input.app,
        image,
        ...(revisionName ? { revisionName } : {}),
      })) as RevisionHealth;
    } catch (error) {
      health = { phase: "failed", state: "unknown", detail: `could not read the revision: ${errorMessage(error)}` };
    }
    step.attempts = looks;
    const nowMs = context.df.currentUtcDateTime.getTime();
    if (health.phase === "waiting" && nowMs >= deadline)
      health = {
        ...health,
        phase: "failed",
        detail: `${health.detail}, not ready within ${Math.round(input.gate.timeoutMs / 1000)} s`,
      };
    if (health.phase !== "waiting") {
      end(step, health.phase === "ready" ? "done" : "failed", {
        ...(health.phase === "ready" ? { action: "passed", notes: [health.detail] } : { error: health.detail }),
      });
      return health;
    }
    step.error = health.detail;
    yield context.df.createTimer(new Date(Math.min(nowMs + input.gate.pollMs, deadline)));
  }
}

function* finish(
  context: OrchestrationContext,
  input: UpgradeInput,
  steps: OperationStep[],
  details: UpgradeDetails,
  status: Outcome,
  message: string,
  extra: {
    spec?: SlugSpec;
    image?: string;
    applied?: Record<string, AppliedNode>;
    settledState?: "installed" | "failed";
  } = {},
): Generator<Task, OperationOutput, unknown> {
  context.df.setCustomStatus({
    operationId: input.operationId,
    slug: input.slug,
    kind: "upgrade",
    phase: status,
    steps,
    upgrade: details,
  });
  yield* recordResult(context, input, {
    status,
    message,
    steps,
    resourceGroup: input.resourceGroup,
    upgrade: details,
    ...(extra.image ? { image: extra.image } : {}),
    ...(extra.spec ? { spec: extra.spec } : {}),
    ...(extra.applied ? { applied: extra.applied } : {}),
    ...(extra.settledState ? { settledState: extra.settledState } : {}),
  });
  const output: OperationOutput & { upgrade: UpgradeDetails } = {
    operationId: input.operationId,
    status,
    failedSteps: steps.filter((step) => step.status === "failed").map((step) => step.id),
    message,
    steps,
    // The status API answers from the output while the record's write has not landed.
    upgrade: details,
  };
  return output;
}

function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

df.app.orchestration(UPGRADE_ORCHESTRATION, upgrade);
