/** What an orchestration's last step (`recordOperationResult`) writes: the final operation and slug records. */
import type { OperationKind, OperationStep, OperationStore, SlugState } from "./records";

export const RECORD_OPERATION_RESULT = "recordOperationResult";

export interface OperationResultInput {
  operationId: string;
  slug: string;
  kind: OperationKind;
  /** Who asked, and the validated request: the record is complete even if the starter's write was lost. */
  actor: string;
  request: unknown;
  status: "succeeded" | "failed";
  message: string;
  steps: OperationStep[];
  finishedAt: string;
  /** The image the operation converged to (becomes the slug's version when it succeeded). */
  image: string;
  region: string;
  resourceGroup: string;
  fqdn?: string;
}

const SETTLED_STATE: Record<OperationKind, { succeeded: SlugState; failed: SlugState }> = {
  install: { succeeded: "installed", failed: "failed" },
  upgrade: { succeeded: "installed", failed: "failed" },
  rotate: { succeeded: "installed", failed: "failed" },
  teardown: { succeeded: "retired", failed: "failed" },
};

/**
 * Idempotent (activities are delivered at least once): writing the same result twice leaves the
 * same records. Titles and kinds the starter stored with each step are kept.
 */
export async function recordOperationResult(
  store: OperationStore,
  input: OperationResultInput,
): Promise<{ operationId: string; status: string }> {
  // Slug first: once the operation reads as finished, the slug record already reflects it.
  const planned = new Map(((await store.getOperation(input.operationId))?.steps ?? []).map((step) => [step.id, step]));
  // Resources the operation converged, over what the slug record knew (a failed run keeps the rest).
  const known = new Map(
    ((await store.getSlug(input.slug))?.resources ?? []).map((resource) => [resource.node, resource]),
  );
  for (const step of input.steps)
    if (step.status === "done" && step.resourceId)
      known.set(step.id, { node: step.id, kind: step.kind ?? planned.get(step.id)?.kind, id: step.resourceId });
  await store.updateSlug(input.slug, (current) => ({
    slug: input.slug,
    state: SETTLED_STATE[input.kind][input.status],
    version: input.status === "succeeded" ? input.image : (current?.version ?? null),
    region: input.region,
    resourceGroup: input.resourceGroup,
    lastOperationId: input.operationId,
    updatedAt: input.finishedAt,
    ...(input.fqdn ? { url: `https://${input.fqdn}` } : current?.url ? { url: current.url } : {}),
    resources: [...known.values()],
  }));
  await store.updateOperation(input.operationId, (current) => {
    const stored = new Map((current?.steps ?? []).map((step) => [step.id, step]));
    return {
      id: input.operationId,
      slug: input.slug,
      kind: input.kind,
      actor: current?.actor ?? input.actor,
      createdAt: current?.createdAt ?? input.finishedAt,
      request: current?.request ?? input.request,
      instanceId: current?.instanceId ?? `slug-${input.slug}`,
      status: input.status,
      message: input.message,
      steps: input.steps.map((step) => ({ ...stored.get(step.id), ...step })),
      updatedAt: input.finishedAt,
    };
  });
  return { operationId: input.operationId, status: input.status };
}
