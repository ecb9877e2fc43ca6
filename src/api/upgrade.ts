/**
 * `POST /api/slugs/{slug}/upgrade {"image", "allowMovingTag"?}`: one slug to another OpenClaw
 * image, through the operation pipeline (400 for a bad image under the install's rules, 409 when
 * the slug is busy or not installed). The slug's recorded spec with the new image is planned; the
 * upgrade converges that plan's Container App node (orchestrations/upgrade.ts).
 */
import type { ContainerAppDesired } from "../contract/resources";
import { planSlug } from "../model/plan";
import type { SlugSpec } from "../model/spec";
import { withoutStateRestore } from "../model/upgrade";
import { imageAllowed, validateImage, validationSettingsFromEnv, type Problem } from "../model/validate";
import { knownOutputs } from "../operations/steps";
import type { AppliedState, SlugRecord } from "../operations/records";
import {
  DEFAULT_GATE,
  UPGRADE_ORCHESTRATION,
  type GateSettings,
  type UpgradeInput,
} from "../../orchestrations/upgrade";
import { invalid, operationRoute, type OperationDefinition, type Preparation } from "./pipeline";
import { planContextForSlug } from "./plan-context";
import { apiError } from "./responses";
import { apiRoute } from "./route";

/** The image an upgrade asks for, under the install's rules (pinned tag or digest, allowed registry). */
export function validateUpgradeRequest(
  body: unknown,
): { ok: true; image: string; allowMovingTag: boolean } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!body || typeof body !== "object" || Array.isArray(body))
    return {
      ok: false,
      problems: [{ path: "", message: 'the body must be a JSON object: {"image": "<repository>:<version>"}.' }],
    };
  const input = body as Record<string, unknown>;
  for (const key of Object.keys(input))
    if (!["image", "allowMovingTag"].includes(key))
      problems.push({ path: key, message: "is not a field of an upgrade." });
  if (input.allowMovingTag !== undefined && typeof input.allowMovingTag !== "boolean")
    problems.push({ path: "allowMovingTag", message: "must be true or false." });
  const allowMovingTag = input.allowMovingTag === true;
  if (typeof input.image !== "string" || input.image.length === 0) {
    problems.push({
      path: "image",
      message: "is required: the image to upgrade to, e.g. ghcr.io/openclaw/openclaw:2026.9.6.",
    });
  } else {
    const settings = validationSettingsFromEnv();
    const problem = validateImage(input.image, allowMovingTag);
    if (problem) problems.push({ path: "image", message: problem });
    else if (!imageAllowed(input.image, settings.allowedRegistries))
      problems.push({
        path: "image",
        message: `'${input.image}' is not in an allowed registry (${settings.allowedRegistries.join(", ")}); an operator adds one with SHIRE_ALLOWED_REGISTRIES.`,
      });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, image: input.image as string, allowMovingTag };
}

/** App settings can shorten the health gate (tests, demos). */
export function gateFromEnv(env: NodeJS.ProcessEnv = process.env): GateSettings {
  const timeoutMs = Number(env.SHIRE_UPGRADE_GATE_TIMEOUT_MS);
  const pollMs = Number(env.SHIRE_UPGRADE_GATE_POLL_MS);
  return {
    timeoutMs: Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : DEFAULT_GATE.timeoutMs,
    pollMs: Number.isFinite(pollMs) && pollMs > 0 ? pollMs : DEFAULT_GATE.pollMs,
  };
}

/** The upgrade's input from the slug's applied state (pure apart from the plan context). */
export function prepareUpgrade(
  slug: string,
  image: string,
  applied: AppliedState | undefined,
  record?: Pick<SlugRecord, "subscriptionId">,
): Preparation<UpgradeInput> {
  const spec = applied?.spec as SlugSpec | undefined;
  const appliedApp = applied?.nodes.containerApp;
  if (!spec || !appliedApp)
    return {
      ok: false,
      response: apiError(
        409,
        "SlugNotInstalled",
        `Slug '${slug}' has no installed Container App to upgrade: install it first.`,
      ),
    };
  const next: SlugSpec = { ...spec, image };
  const planContext = planContextForSlug(record);
  const plan = planSlug(next, planContext);
  // The upgrade's own reads (the running revision, the snapshot, the health gate) go to the slug's subscription.
  const subscription = record?.subscriptionId ? { subscriptionId: record.subscriptionId } : {};
  const node = plan.nodes.find((candidate) => candidate.kind === "containerApp")!;
  const share = plan.nodes.find((candidate) => candidate.kind === "fileShare")!.desired as {
    resourceGroup: string;
    accountName: string;
    shareName: string;
  };
  const app = node.desired as ContainerAppDesired;
  const resourceGroup = plan.nodes.find((candidate) => candidate.kind === "resourceGroup")!.desired.name as string;
  const request = { image };
  return {
    ok: true,
    prepared: {
      input: {
        image,
        spec: next,
        resourceGroup,
        app: { ...subscription, resourceGroup: app.resourceGroup, name: app.name },
        share: {
          ...subscription,
          resourceGroup: share.resourceGroup,
          accountName: share.accountName,
          shareName: share.shareName,
        },
        step: {
          id: node.id,
          kind: node.kind,
          verb: "ensure",
          title: `${node.title}: a revision with ${image}`,
          dependsOn: [],
          desired: { ...(node.desired as object), awaitRevision: false },
        },
        previous: withoutStateRestore(appliedApp.desired as ContainerAppDesired),
        knownOutputs: knownOutputs(applied),
        gate: gateFromEnv(),
      },
      request,
      steps: [
        { id: "inspect", title: "Record the running image and revision", status: "pending" },
        { id: "snapshot", title: "Snapshot the state share", kind: "fileShare", status: "pending" },
        { id: node.id, title: `${node.title}: a revision with ${image}`, kind: node.kind, status: "pending" },
        { id: "healthGate", title: "Health gate", status: "pending" },
      ],
      slug: { region: spec.region, resourceGroup },
    },
  };
}

export const upgradeOperation: OperationDefinition<UpgradeInput> = {
  kind: "upgrade",
  orchestration: UPGRADE_ORCHESTRATION,
  prepare: async (slug, body, { store, current }) => {
    const validation = validateUpgradeRequest(body);
    if (!validation.ok) return invalid("upgrade", validation.problems);
    return prepareUpgrade(slug, validation.image, await store.getApplied(slug), current);
  },
};

apiRoute({
  name: "startUpgrade",
  route: "slugs/{slug}/upgrade",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: operationRoute(upgradeOperation),
});
