/**
 * Slug routes: install (validate, plan, start the one operation this slug may run), list, get.
 * Invalid input gets 400 listing every problem and nothing is written anywhere.
 */
import { randomBytes } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateInstallRequest } from "../model/validate";
import { planSlug } from "../model/plan";
import { azureContextFromEnv, SANDBOX_BROKER_OBJECT_ID } from "../azure/credential";
import { keyVaultUrl } from "../azure/endpoints";
import { INSTALL_ORCHESTRATION, instanceIdForSlug, type InstallInput } from "../../orchestrations/install";
import { newOperationId, OperationStore } from "../operations/records";
import { actorOf, apiError, json, origin, readJson } from "./responses";
import { runningOperation } from "./operations";

async function installSlug(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const validation = validateInstallRequest(slug, body.value);
  if (!validation.ok) {
    return apiError(400, "InvalidRequest", `The install request has ${validation.problems.length} problem(s); nothing was changed.`, validation.problems);
  }

  let azure;
  try {
    azure = azureContextFromEnv();
  } catch (error) {
    return apiError(503, "NotConfigured", (error as Error).message);
  }
  const plan = planSlug(validation.spec, {
    subscriptionId: azure.subscriptionId,
    tenantId: azure.tenantId,
    brokerPrincipalId: process.env.SHIRE_BROKER_PRINCIPAL_ID ?? SANDBOX_BROKER_OBJECT_ID,
    vaultUri: (name) => keyVaultUrl(azure.endpoints, name),
    sharedRegistry: process.env.SHIRE_SHARED_REGISTRY_ID && process.env.SHIRE_SHARED_REGISTRY_LOGIN_SERVER
      ? { resourceId: process.env.SHIRE_SHARED_REGISTRY_ID, loginServer: process.env.SHIRE_SHARED_REGISTRY_LOGIN_SERVER }
      : undefined,
  });

  const client = df.getClient(context);
  const now = new Date();
  const operationId = newOperationId(slug, now, randomBytes(3).toString("hex"));
  const instanceId = instanceIdForSlug(slug);
  const input: InstallInput = { operationId, slug, actor: actorOf(request), spec: validation.spec, plan, retry: retryFromEnv() };
  try {
    await client.startNew(INSTALL_ORCHESTRATION, { instanceId, input });
  } catch (error) {
    const busy = await runningOperation(client, slug);
    if (busy) return apiError(409, "OperationInProgress", `Slug '${slug}' is busy: operation ${busy.operationId} (${busy.kind}) is ${busy.status}. Wait for it to finish.`, { operationId: busy.operationId, kind: busy.kind });
    throw error;
  }

  const store = OperationStore.fromEnv();
  await store.createOperation({
    id: operationId,
    slug,
    kind: "install",
    actor: input.actor,
    status: "running",
    message: "Install started.",
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: validation.spec,
    steps: plan.nodes.map((node) => ({ id: node.id, title: node.title, kind: node.kind, status: "pending" })),
    instanceId,
  });
  await store.updateSlug(slug, (current) => ({
    slug,
    state: current?.state === "installed" ? "installed" : "installing",
    image: current?.image ?? validation.spec.image,
    region: validation.spec.region,
    resourceGroup: `claw-${slug}`,
    lastOperationId: operationId,
    updatedAt: now.toISOString(),
  }));
  const statusUrl = `${origin(request)}/api/operations/${operationId}`;
  return json(202, { operationId, statusUrl }, { location: statusUrl });
}

/** Tests shorten the orchestration's retry backoff through app settings. */
function retryFromEnv(): InstallInput["retry"] {
  const first = Number(process.env.SHIRE_RETRY_FIRST_INTERVAL_MS);
  if (!Number.isFinite(first) || first <= 0) return undefined;
  return { firstRetryIntervalMs: first, backoffCoefficient: 2, maxRetryIntervalMs: Math.max(first, Number(process.env.SHIRE_RETRY_MAX_INTERVAL_MS) || first * 8), maxAttempts: Number(process.env.SHIRE_RETRY_MAX_ATTEMPTS) || 6 };
}

async function listSlugs(): Promise<HttpResponseInit> {
  return json(200, { slugs: await OperationStore.fromEnv().listSlugs() });
}

async function getSlug(request: HttpRequest): Promise<HttpResponseInit> {
  const record = await OperationStore.fromEnv().getSlug(request.params.slug);
  return record ? json(200, record) : apiError(404, "SlugNotFound", `Shire knows no slug '${request.params.slug}'.`);
}

app.http("installSlug", { route: "slugs/{slug}/install", methods: ["POST"], authLevel: "anonymous", extraInputs: [df.input.durableClient()], handler: installSlug });
app.http("listSlugs", { route: "slugs", methods: ["GET"], authLevel: "anonymous", handler: listSlugs });
app.http("getSlug", { route: "slugs/{slug}", methods: ["GET"], authLevel: "anonymous", handler: getSlug });
