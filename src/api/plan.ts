/** `GET /api/slugs/{slug}/plan`: what install would change, per resource, without changing anything. */
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { validateInstallRequest } from "../model/validate";
import { planSlug } from "../model/plan";
import { dryRun } from "../model/dry-run";
import { azureContextFromEnv } from "../azure/credential";
import { keyVaultUrl } from "../azure/endpoints";
import { activityDepsFromEnv } from "../../activities/deps";
import { activityHandlersByKind } from "../../activities";
import { OperationStore } from "../operations/records";
import { apiError, json } from "./responses";

async function planForSlug(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  // The spec last installed for this slug (from its latest operation), else the defaults.
  const operations = await OperationStore.fromEnv().listOperations(slug).catch(() => []);
  const lastSpec = operations.find((operation) => operation.kind === "install")?.request as Record<string, unknown> | undefined;
  const { slug: _slug, ...body } = (lastSpec ?? {}) as Record<string, unknown>;
  const requested = request.query.get("image");
  const validation = validateInstallRequest(slug, lastSpec ? { region: body.region, image: requested ?? body.image, channels: toChannels(body.channels), allowedIdentities: body.allowedIdentities, resources: body.resources, tags: body.tags, foundry: body.foundry } : requested ? { image: requested } : {});
  if (!validation.ok) return apiError(400, "InvalidRequest", "The plan request is not valid.", validation.problems);
  let azure;
  try {
    azure = azureContextFromEnv();
  } catch (error) {
    return apiError(503, "NotConfigured", (error as Error).message);
  }
  const deps = activityDepsFromEnv();
  const plan = planSlug(validation.spec, { subscriptionId: azure.subscriptionId, tenantId: azure.tenantId, brokerPrincipalId: deps.brokerPrincipalId, vaultUri: (name) => keyVaultUrl(azure.endpoints, name) });
  const changes = await dryRun(plan, deps, activityHandlersByKind);
  const summary = { create: 0, update: 0, unchanged: 0, "after-dependencies": 0, error: 0 };
  for (const change of changes) summary[change.action]++;
  return json(200, { slug, spec: validation.spec, summary, changes });
}

/** The stored spec's channels back into request form. */
function toChannels(channels: unknown): Record<string, unknown> | undefined {
  const value = channels as { teams?: boolean; telegram?: { mode: string }; whatsapp?: boolean } | undefined;
  if (!value) return undefined;
  return { teams: { enabled: value.teams !== false }, whatsapp: { enabled: value.whatsapp === true }, ...(value.telegram ? { telegram: { enabled: true, mode: value.telegram.mode } } : {}) };
}

app.http("planSlug", { route: "slugs/{slug}/plan", methods: ["GET"], authLevel: "anonymous", handler: planForSlug });
