/**
 * `POST /api/slugs/{slug}/rotate {"secrets"?: [...]}`: rotate a slug's secrets, as one operation
 * under the slug's lock (src/api/pipeline.ts). Without `secrets`, every secret Shire rotates
 * itself; `[]` rotates nothing and only disables old versions past their grace period. The
 * schedule (src/api/rotation-schedule.ts) starts the same operation.
 */
import type { HttpResponseInit } from "@azure/functions";
import { validateSlug } from "../model/validate";
import type { SecretDesired } from "../contract/resources";
import type { OperationStore } from "../operations/records";
import {
  rotationSteps,
  rotationTargets,
  validateRotateRequest,
  type RotationTargets,
  type SlugSecret,
} from "../operations/rotation";
import { rotationPolicyFromEnv } from "../operations/rotation-policy";
import { ROTATE_ORCHESTRATION, type RotateInput } from "../../orchestrations/rotate";
import type { WalkStep } from "../../orchestrations/plan-walker";
import { invalid, operationRoute, type OperationDefinition, type Prepared } from "./pipeline";
import { apiError } from "./responses";
import { apiRoute } from "./route";

/** The slug's secrets as its operations applied them; a 409 when it has no app and vault to rotate on. */
export async function slugSecrets(
  store: OperationStore,
  slug: string,
): Promise<{ ok: true; targets: RotationTargets } | { ok: false; response: HttpResponseInit }> {
  const targets = rotationTargets(await store.getApplied(slug));
  if (targets) return { ok: true, targets };
  return {
    ok: false,
    response: apiError(
      409,
      "NothingToRotate",
      `Slug '${slug}' has no app and vault Shire installed: install it before rotating its secrets.`,
    ),
  };
}

/** What a rotation of `chosen` starts with: the walk, and what the record shows. */
export function prepareRotation(
  targets: RotationTargets,
  chosen: SlugSecret[],
  request: unknown,
): Prepared<RotateInput> {
  const steps = rotationSteps(targets, chosen, rotationPolicyFromEnv().graceMs);
  return {
    input: {
      vaultName: targets.vaultName,
      secrets: targets.secrets.map((secret) => ({ name: secret.name, kind: secret.kind })),
      rotating: chosen.map((secret) => secret.name),
      steps,
    },
    request,
    steps: steps.map((step: WalkStep) => ({
      id: step.id,
      title: step.title,
      kind: step.kind,
      status: "pending" as const,
    })),
    slug: { resourceGroup: targets.resourceGroup },
  };
}

/**
 * Other slugs whose Foundry key is a key of the same account: regenerating it would cut them off
 * (they hold copies of the same two keys), so Shire does not rotate a shared account's keys.
 */
async function slugsSharingAccount(store: OperationStore, slug: string, accountResourceId: string): Promise<string[]> {
  const sharing: string[] = [];
  for (const record of await store.listSlugs()) {
    if (record.slug === slug || record.state === "destroyed") continue;
    const nodes = Object.values((await store.getApplied(record.slug))?.nodes ?? {});
    const uses = nodes.some((node) => {
      const source = node.kind === "secret" ? (node.desired as SecretDesired).source : undefined;
      return (
        source?.type === "cognitiveServicesKey" &&
        source.accountResourceId.toLowerCase() === accountResourceId.toLowerCase()
      );
    });
    if (uses) sharing.push(record.slug);
  }
  return sharing;
}

export const rotateOperation: OperationDefinition<RotateInput> = {
  kind: "rotate",
  orchestration: ROTATE_ORCHESTRATION,
  prepare: async (slug, body, { store }) => {
    const slugProblems = validateSlug(slug);
    if (slugProblems.length > 0) return invalid("rotate", slugProblems);
    const found = await slugSecrets(store, slug);
    if (!found.ok) return found;
    const validation = validateRotateRequest(body, found.targets);
    if (!validation.ok) return invalid("rotate", validation.problems);
    const asked = Array.isArray((body as { secrets?: unknown } | undefined)?.secrets);
    const chosen: SlugSecret[] = [];
    const skipped: Record<string, string> = {};
    for (const secret of validation.secrets) {
      const shared =
        secret.secret.kind === "foundryKey"
          ? await slugsSharingAccount(store, slug, secret.secret.accountResourceId)
          : [];
      if (shared.length === 0) {
        chosen.push(secret);
        continue;
      }
      const why = `its Foundry account's keys are also those of ${shared.join(", ")}: regenerating one would cut them off`;
      if (asked)
        return {
          ok: false,
          response: apiError(
            422,
            "FoundryAccountShared",
            `Shire does not rotate '${secret.name}' of ${slug}: ${why}.`,
            {
              slugs: shared,
            },
          ),
        };
      skipped[secret.name] = why;
    }
    const request = {
      secrets: chosen.map((secret) => secret.name),
      ...(Object.keys(skipped).length > 0 ? { skipped } : {}),
    };
    return { ok: true, prepared: prepareRotation(found.targets, chosen, request) };
  },
};

apiRoute({
  name: "rotateSlug",
  route: "slugs/{slug}/rotate",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: operationRoute(rotateOperation),
});
