/**
 * Slug routes: install (validate, plan, start the one operation a slug may run, record it), list,
 * get. Invalid input gets 400 listing every problem, and nothing is written anywhere.
 */
import { randomBytes } from "node:crypto";
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { contextProblems, validateInstallRequest, validateSlug } from "../model/validate";
import { planSlug } from "../model/plan";
import { planContextFromEnv } from "./plan-context";
import { INSTALL_ORCHESTRATION, instanceIdForSlug, type InstallInput } from "../../orchestrations/install";
import { DEFAULT_RETRY, type RetrySettings } from "../../orchestrations/plan-walker";
import { newOperationId, OperationStore, type OperationRecord } from "../operations/records";
import { actorOf, apiError, json, origin, readJson, withErrors } from "./responses";
import { runningOperation, type RunningOperation } from "./operations";

/** App settings can shorten the walker's retry backoff (tests, demos); unset = the default policy. */
export function retryFromEnv(env: NodeJS.ProcessEnv = process.env): RetrySettings | undefined {
  const first = Number(env.SHIRE_RETRY_FIRST_INTERVAL_MS);
  if (!Number.isFinite(first) || first <= 0) return undefined;
  const max = Number(env.SHIRE_RETRY_MAX_INTERVAL_MS);
  const attempts = Number(env.SHIRE_RETRY_MAX_ATTEMPTS);
  const propagationAttempts = Number(env.SHIRE_RETRY_MAX_PROPAGATION_ATTEMPTS);
  const maxAttempts = Number.isInteger(attempts) && attempts > 0 ? attempts : DEFAULT_RETRY.maxAttempts;
  return {
    firstRetryIntervalMs: first,
    backoffCoefficient: 2,
    maxRetryIntervalMs: Number.isFinite(max) && max >= first ? max : first * 8,
    maxAttempts,
    maxPropagationAttempts:
      Number.isInteger(propagationAttempts) && propagationAttempts > 0
        ? propagationAttempts
        : Math.max(maxAttempts, DEFAULT_RETRY.maxPropagationAttempts ?? maxAttempts),
  };
}

function busyResponse(slug: string, busy: RunningOperation): HttpResponseInit {
  return apiError(
    409,
    "OperationInProgress",
    `Slug '${slug}' is busy: ${busy.kind} operation ${busy.operationId} is ${busy.runtimeStatus.toLowerCase()}. Wait for it to finish.`,
    {
      operationId: busy.operationId,
      kind: busy.kind,
    },
  );
}

/**
 * Start the slug's one instance. The durable host refuses an id that still runs: then answer with
 * the running operation. If it finished between the refusal and our look, start again once.
 */
async function startOnce(
  client: DurableClient,
  slug: string,
  input: InstallInput,
): Promise<HttpResponseInit | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await client.startNew(INSTALL_ORCHESTRATION, { instanceId: instanceIdForSlug(slug), input });
      // Some durable backends check "already running" before writing, so two starts at the same
      // moment can both be accepted: only the one whose input the instance holds has the slug.
      const winner = await runningOperation(client, slug);
      if (winner && winner.operationId !== input.operationId) return busyResponse(slug, winner);
      return undefined;
    } catch (error) {
      const busy = await runningOperation(client, slug);
      if (busy) return busyResponse(slug, busy);
      if (attempt === 1) throw error;
    }
  }
  return undefined;
}

async function installSlug(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const validation = validateInstallRequest(slug, body.value);
  if (!validation.ok) {
    return apiError(
      400,
      "InvalidRequest",
      `The install request has ${validation.problems.length} problem(s); nothing was changed.`,
      validation.problems,
    );
  }
  // Everything that can be missing is checked before anything starts.
  const planContext = planContextFromEnv();
  const problems = contextProblems(validation.spec, planContext);
  if (problems.length > 0)
    return apiError(
      400,
      "InvalidRequest",
      `The install request has ${problems.length} problem(s); nothing was changed.`,
      problems,
    );
  const plan = planSlug(validation.spec, planContext);
  const store = OperationStore.fromEnv();
  const client = df.getClient(context);

  const now = new Date();
  const operationId = newOperationId(slug, now, randomBytes(4).toString("hex"));
  const retry = retryFromEnv();
  const input: InstallInput = {
    operationId,
    slug,
    actor: actorOf(request),
    spec: validation.spec,
    plan,
    ...(retry ? { retry } : {}),
  };
  const refused = await startOnce(client, slug, input);
  if (refused) return refused;

  const record: OperationRecord = {
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
    instanceId: instanceIdForSlug(slug),
  };
  try {
    await closeStaleOperation(store, slug, now);
    // false = the orchestration already recorded its result (it can be that fast): keep that one.
    await store.createOperation(record);
    await store.updateSlug(slug, (current) =>
      current?.lastOperationId === operationId
        ? current
        : {
            // What the slug record knew (its resources among it) stays until the result replaces it.
            ...current,
            slug,
            state: "installing",
            version: current?.version ?? null,
            region: validation.spec.region,
            resourceGroup: String(
              plan.nodes.find((node) => node.id === "resourceGroup")?.desired.name ?? `claw-${slug}`,
            ),
            lastOperationId: operationId,
            updatedAt: now.toISOString(),
            ...(current?.url ? { url: current.url } : {}),
          },
    );
  } catch (error) {
    // The operation runs regardless and writes its final record when it ends: say so, don't fail.
    context.warn(
      `Operation ${operationId} started but its initial record was not written: ${(error as Error).message}`,
    );
  }
  const statusUrl = `${origin(request)}/api/operations/${operationId}`;
  return json(202, { operationId, statusUrl }, { location: statusUrl });
}

/**
 * The slug's instance id has just been reused, so the previous operation is certainly over. If its
 * record still says running, its orchestration ended without recording (terminated, or failed
 * outside the walk): say so, or it would read as running forever.
 */
async function closeStaleOperation(store: OperationStore, slug: string, now: Date): Promise<void> {
  const previous = (await store.getSlug(slug))?.lastOperationId;
  if (!previous || !(await store.getOperation(previous))) return;
  await store.updateOperation(previous, (current) =>
    current && (current.status === "running" || current.status === "notStarted")
      ? {
          ...current,
          status: "failed",
          message:
            "The orchestration ended without recording a result (terminated or failed); see the steps for how far it got.",
          updatedAt: now.toISOString(),
        }
      : current!,
  );
}

async function listSlugs(): Promise<HttpResponseInit> {
  return json(200, { slugs: await OperationStore.fromEnv().listSlugs() });
}

async function getSlug(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const record = validateSlug(slug).length === 0 ? await OperationStore.fromEnv().getSlug(slug) : undefined;
  return record ? json(200, record) : apiError(404, "SlugNotFound", `Shire knows no slug '${slug}'.`);
}

app.http("installSlug", {
  route: "slugs/{slug}/install",
  methods: ["POST"],
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: withErrors(installSlug),
});
app.http("listSlugs", { route: "slugs", methods: ["GET"], authLevel: "anonymous", handler: withErrors(listSlugs) });
app.http("getSlug", { route: "slugs/{slug}", methods: ["GET"], authLevel: "anonymous", handler: withErrors(getSlug) });
