/**
 * What an orchestration writes about itself: its progress at phase changes (`recordOperationProgress`:
 * the slug's state, the steps so far) and, as its last step, the final operation and slug
 * records (`recordOperationResult`), including what the operation applied and removed.
 */
import { OPERATION_RULES, type OperationOutcome, type SlugState } from "./lifecycle";
import type {
  AppliedNode,
  AppliedState,
  OperationKind,
  OperationRecord,
  OperationStep,
  OperationStore,
  SlugRecord,
  UpgradeDetails,
} from "./records";

export const RECORD_OPERATION_RESULT = "recordOperationResult";
export const RECORD_OPERATION_PROGRESS = "recordOperationProgress";

export interface OperationResultInput {
  operationId: string;
  slug: string;
  kind: OperationKind;
  /** Who asked, and the validated request: the record is complete even if the starter's write was lost. */
  actor: string;
  request: unknown;
  status: OperationOutcome;
  message: string;
  steps: OperationStep[];
  finishedAt: string;
  /** The image the operation converged to (becomes the slug's version when it succeeded). */
  image?: string;
  region?: string;
  resourceGroup?: string;
  /** The slug's subscription (its placement): the record keeps it if the starter's write was lost. */
  subscriptionId?: string;
  fqdn?: string;
  /** What the operation's `ensure` steps converged, and the nodes its `remove` steps removed. */
  applied?: Record<string, AppliedNode>;
  removed?: string[];
  /** The install request the footprint now follows (install and upgrade). */
  spec?: unknown;
  /** The operation's traceparent (its end is a span of its trace). */
  trace?: string;
  /** Overrides the kind's settled state for this outcome (a rolled-back upgrade leaves the slug installed). */
  settledState?: SlugState;
  upgrade?: UpgradeDetails;
}

export interface OperationProgressInput {
  operationId: string;
  slug: string;
  /** What the record needs if the starter's own write was lost. */
  kind: OperationKind;
  actor: string;
  request: unknown;
  /** The slug's subscription (its placement). */
  subscriptionId?: string;
  state: SlugState;
  updatedAt: string;
  /** While retired: when the footprint is destroyed. */
  destroyAt?: string;
  message?: string;
  /** Steps finished so far (merged into the operation record by id). */
  steps?: OperationStep[];
  applied?: Record<string, AppliedNode>;
  removed?: string[];
  upgrade?: UpgradeDetails;
}

/** A slug's placement never changes once recorded: the record's subscription wins over any later word. */
function placementOf(
  current: SlugRecord | undefined,
  input: { subscriptionId?: string },
): Pick<SlugRecord, "subscriptionId"> {
  const subscriptionId = current?.subscriptionId ?? input.subscriptionId;
  return subscriptionId ? { subscriptionId } : {};
}

/**
 * The operation record with an orchestration's news: complete even when the starter's own write
 * was lost (the orchestration knows who asked and what), keeping what the starter stored (titles,
 * kinds, actor, creation time).
 */
function updatedRecord(
  current: OperationRecord | undefined,
  input: { operationId: string; slug: string; kind: OperationKind; actor: string; request: unknown },
  news: {
    status: OperationRecord["status"];
    message: string;
    steps: OperationStep[];
    at: string;
    upgrade?: UpgradeDetails;
  },
): OperationRecord {
  const upgrade = news.upgrade ?? current?.upgrade;
  return {
    id: input.operationId,
    slug: input.slug,
    kind: input.kind,
    actor: current?.actor ?? input.actor,
    createdAt: current?.createdAt ?? news.at,
    request: current?.request ?? input.request,
    instanceId: current?.instanceId ?? `slug-${input.slug}`,
    status: news.status,
    message: news.message,
    steps: mergeSteps(current?.steps ?? [], news.steps),
    updatedAt: news.at,
    ...(upgrade ? { upgrade } : {}),
  };
}

function mergeSteps(stored: OperationStep[], updates: OperationStep[]): OperationStep[] {
  const byId = new Map(stored.map((step) => [step.id, step]));
  for (const step of updates) byId.set(step.id, { ...byId.get(step.id), ...step });
  return [...byId.values()];
}

/** The applied state after an operation's changes (pure). */
export function applyChanges(
  current: AppliedState | undefined,
  slug: string,
  operationId: string,
  changes: { applied?: Record<string, AppliedNode>; removed?: string[]; spec?: unknown; cleared?: boolean },
  now: string,
): AppliedState {
  const nodes = changes.cleared ? {} : { ...(current?.nodes ?? {}) };
  for (const [id, node] of Object.entries(changes.applied ?? {})) nodes[id] = { ...node, operationId };
  for (const id of changes.removed ?? []) delete nodes[id];
  return { slug, spec: changes.spec ?? current?.spec, nodes, updatedAt: now };
}

/** The slug record's resource list: what the applied state says exists. */
function resourcesOf(applied: AppliedState): SlugRecord["resources"] {
  return Object.entries(applied.nodes)
    .filter(([, node]) => node.resourceId)
    .map(([node, entry]) => ({ node, kind: entry.kind, id: entry.resourceId! }));
}

/** Idempotent (activities are delivered at least once): writing the same progress twice leaves the same records. */
export async function recordOperationProgress(store: OperationStore, input: OperationProgressInput): Promise<void> {
  const applied =
    input.applied || input.removed
      ? await store.updateApplied(input.slug, (current) =>
          applyChanges(current, input.slug, input.operationId, input, input.updatedAt),
        )
      : undefined;
  await store.updateSlug(input.slug, (current) => {
    const { destroyAt: _previous, ...rest } = current ?? ({} as Partial<SlugRecord>);
    return {
      ...(rest as SlugRecord),
      slug: input.slug,
      state: input.state,
      ...placementOf(current, input),
      lastOperationId: input.operationId,
      updatedAt: input.updatedAt,
      ...(input.destroyAt ? { destroyAt: input.destroyAt } : {}),
      ...(applied ? { resources: resourcesOf(applied) } : {}),
    };
  });
  if (input.steps || input.message || input.upgrade) {
    await store.updateOperation(input.operationId, (current) =>
      updatedRecord(current, input, {
        status: "running",
        message: input.message ?? current?.message ?? "",
        steps: input.steps ?? [],
        at: input.updatedAt,
        upgrade: input.upgrade,
      }),
    );
  }
}

/**
 * Idempotent (activities are delivered at least once): writing the same result twice leaves the
 * same records. Titles and kinds the starter stored with each step are kept.
 */
export async function recordOperationResult(
  store: OperationStore,
  input: OperationResultInput,
): Promise<{ operationId: string; status: string }> {
  const state = input.settledState ?? OPERATION_RULES[input.kind].settles[input.status];
  const destroyed = state === "destroyed";
  // Applied state first, then the slug, then the operation: once the operation reads as
  // finished, the slug record already reflects it.
  const applied = await store.updateApplied(input.slug, (current) =>
    applyChanges(
      current,
      input.slug,
      input.operationId,
      { applied: input.applied, removed: input.removed, spec: input.spec, cleared: destroyed },
      input.finishedAt,
    ),
  );
  await store.updateSlug(input.slug, (current) => {
    const { destroyAt: _destroyAt, url, ...rest } = current ?? ({} as Partial<SlugRecord>);
    return {
      ...(rest as SlugRecord),
      slug: input.slug,
      state,
      version: destroyed
        ? null
        : input.status === "succeeded" && input.image
          ? input.image
          : (current?.version ?? null),
      region: input.region ?? current?.region ?? "",
      resourceGroup: input.resourceGroup ?? current?.resourceGroup ?? `claw-${input.slug}`,
      ...placementOf(current, input),
      lastOperationId: input.operationId,
      updatedAt: input.finishedAt,
      ...(destroyed ? {} : input.fqdn ? { url: `https://${input.fqdn}` } : url ? { url } : {}),
      resources: resourcesOf(applied),
    };
  });
  await store.updateOperation(input.operationId, (current) =>
    updatedRecord(current, input, {
      status: input.status,
      message: input.message,
      steps: input.steps,
      at: input.finishedAt,
      upgrade: input.upgrade,
    }),
  );
  return { operationId: input.operationId, status: input.status };
}
