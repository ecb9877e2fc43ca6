/** `recordOperationResult`: the orchestration's last step writes the final operation and slug records. */
import * as df from "durable-functions";
import { OperationStore, type OperationKind, type OperationStep } from "./records";

export const RECORD_OPERATION_RESULT = "recordOperationResult";

export interface OperationResultInput {
  operationId: string;
  slug: string;
  kind: OperationKind;
  status: "succeeded" | "failed";
  message: string;
  steps: OperationStep[];
  finishedAt: string;
  image: string;
  region: string;
  resourceGroup: string;
  fqdn?: string;
}

export async function recordOperationResult(store: OperationStore, input: OperationResultInput): Promise<{ operationId: string; status: string }> {
  await store.updateOperation(input.operationId, (current) => ({
    id: input.operationId,
    slug: input.slug,
    kind: input.kind,
    actor: current?.actor ?? "unknown",
    createdAt: current?.createdAt ?? input.finishedAt,
    request: current?.request ?? null,
    instanceId: current?.instanceId ?? `slug-${input.slug}`,
    status: input.status,
    message: input.message,
    steps: input.steps,
    updatedAt: input.finishedAt,
  }));
  await store.updateSlug(input.slug, (current) => ({
    slug: input.slug,
    state: input.status === "succeeded" ? "installed" : "failed",
    image: input.status === "succeeded" ? input.image : (current?.image ?? input.image),
    region: input.region,
    resourceGroup: input.resourceGroup,
    lastOperationId: input.operationId,
    updatedAt: input.finishedAt,
    ...(input.fqdn ? { url: `https://${input.fqdn}` } : {}),
  }));
  return { operationId: input.operationId, status: input.status };
}

df.app.activity(RECORD_OPERATION_RESULT, { handler: (input: OperationResultInput) => recordOperationResult(OperationStore.fromEnv(), input) });
