/**
 * Drift: `POST /api/drift` audits the fleet (or chosen slugs) without writing, on a schedule too
 * (`SHIRE_DRIFT_SCHEDULE`, NCRONTAB); `GET /api/drift` and `GET /api/slugs/{slug}/drift` show what
 * it found; `POST /api/slugs/{slug}/repair` converges only what drifted. The audit's activities
 * are registered here: one slug's audit, the list of installed slugs, starting repairs.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from "@azure/functions";
import * as df from "durable-functions";
import { randomBytes } from "node:crypto";
import { validateSlug, type Problem } from "../model/validate";
import { OperationStore } from "../operations/records";
import { hasDrift } from "../operations/drift";
import { convergedSpec } from "../operations/slug-spec";
import { azureContextFromEnv } from "../azure/credential";
import { auditDepsFromEnv, auditSlug } from "../../activities/drift";
import {
  AUDIT_SLUG_DRIFT,
  DRIFT_AUDIT_INSTANCE,
  DRIFT_AUDIT_ORCHESTRATION,
  LIST_AUDITABLE_SLUGS,
  START_REPAIRS,
  type DriftAuditInput,
  type DriftAuditStatus,
  type SlugAuditResult,
} from "../../orchestrations/drift-audit";
import { actorName, type Principal } from "./auth";
import { apiError, json, origin, readJson } from "./responses";
import { apiRoute } from "./route";
import { planContextForSlug } from "./plan-context";
import { operationRoute, startOperation } from "./pipeline";
import { repairOperation } from "./repair";
import { isLive, statusOf } from "./reconcile";

/** One slug's audit: reads only; the finding replaces the slug's drift record. */
async function auditSlugDrift(input: { slug: string; auditId: string }): Promise<SlugAuditResult> {
  const store = OperationStore.fromEnv();
  const slug = await store.getSlug(input.slug);
  const planContext = planContextForSlug(slug);
  const record = await auditSlug(
    {
      slug: input.slug,
      spec: await convergedSpec(store, input.slug),
      applied: await store.getApplied(input.slug),
      planContext,
      auditedAt: new Date().toISOString(),
    },
    // Read where the slug is placed.
    auditDepsFromEnv({ ...azureContextFromEnv(), subscriptionId: planContext.subscriptionId }),
  );
  await store.putDrift(record);
  return {
    slug: input.slug,
    drifted: record.drifted.filter((entry) => entry.state !== "unknown").length,
    extra: record.extra.length,
    reads: record.reads,
    nodes: record.drifted
      .filter((entry) => entry.state === "differs" || entry.state === "absent")
      .map((entry) => entry.node),
  };
}

/** Slugs an audit looks at: installed ones (the others are mid-operation, retired or gone). */
async function listAuditableSlugs(): Promise<string[]> {
  return (await OperationStore.fromEnv().listSlugs())
    .filter((slug) => slug.state === "installed")
    .map((slug) => slug.slug);
}

/** A repair per slug through the operation pipeline; a busy slug is refused and said so. */
async function startRepairs(
  input: { slugs: string[]; actor: string },
  context: InvocationContext,
): Promise<DriftAuditStatus["repairs"]> {
  const repairs: NonNullable<DriftAuditStatus["repairs"]> = [];
  for (const slug of input.slugs) {
    const answer = await startOperation(
      repairOperation,
      { slug, body: undefined, actor: input.actor, origin: "" },
      context,
    );
    const body = answer.jsonBody as { operationId?: string; error?: { message?: string } };
    repairs.push(
      answer.status === 202
        ? { slug, operationId: body.operationId }
        : { slug, refused: body.error?.message ?? `HTTP ${answer.status}` },
    );
  }
  return repairs;
}

df.app.activity(AUDIT_SLUG_DRIFT, { handler: auditSlugDrift });
df.app.activity(LIST_AUDITABLE_SLUGS, { handler: listAuditableSlugs });
df.app.activity(START_REPAIRS, { extraInputs: [df.input.durableClient()], handler: startRepairs });

/** `{slugs?: [...], repair?: [...] | true}`: every problem at once. */
function auditRequest(
  body: unknown,
): { ok: true; value: Pick<DriftAuditInput, "slugs" | "repair"> } | { ok: false; problems: Problem[] } {
  if (body === undefined) return { ok: true, value: {} };
  const problems: Problem[] = [];
  if (body === null || typeof body !== "object" || Array.isArray(body))
    return { ok: false, problems: [{ path: "", message: "the body must be an object (or empty)." }] };
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (key !== "slugs" && key !== "repair") problems.push({ path: key, message: "is not a known field." });
  const list = (value: unknown, path: string): string[] | undefined => {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.length > 5_000) {
      problems.push({ path, message: "must be a list of slugs (at most 5000)." });
      return undefined;
    }
    value.forEach((slug, i) => {
      if (typeof slug !== "string" || validateSlug(slug).length > 0)
        problems.push({ path: `${path}[${i}]`, message: "is not a slug." });
    });
    return value as string[];
  };
  const slugs = list(record.slugs, "slugs");
  const repair = record.repair === true ? true : list(record.repair, "repair");
  if (record.repair !== undefined && record.repair !== true && !Array.isArray(record.repair))
    problems.push({ path: "repair", message: "must be true or a list of slugs." });
  return problems.length
    ? { ok: false, problems }
    : { ok: true, value: { ...(slugs ? { slugs } : {}), ...(repair ? { repair } : {}) } };
}

/**
 * The share of ARM's read budget an audit may spend (app settings; ARM gives a subscription a
 * bucket of 250 reads refilled 25 a second, and everything else needs some too).
 */
function auditBudget(env: NodeJS.ProcessEnv = process.env): Pick<DriftAuditInput, "readsPerSecond" | "burst"> {
  const positive = (value: string | undefined) => (Number(value) > 0 ? Number(value) : undefined);
  const readsPerSecond = positive(env.SHIRE_DRIFT_READS_PER_SECOND);
  const burst = positive(env.SHIRE_DRIFT_READ_BURST);
  return { ...(readsPerSecond ? { readsPerSecond } : {}), ...(burst ? { burst } : {}) };
}

/** Start the audit unless one runs; the answer says which. */
async function startAudit(
  client: df.DurableClient,
  input: Omit<DriftAuditInput, "auditId">,
): Promise<{ auditId: string; started: boolean }> {
  const running = await statusOf(client, DRIFT_AUDIT_INSTANCE, true);
  if (isLive(running))
    return { auditId: String((running!.input as { auditId?: unknown })?.auditId ?? "unknown"), started: false };
  const auditId = `audit.${new Date().toISOString().replace(/[-:.]/g, "")}.${randomBytes(3).toString("hex")}`;
  await client.startNew(DRIFT_AUDIT_ORCHESTRATION, { instanceId: DRIFT_AUDIT_INSTANCE, input: { ...input, auditId } });
  return { auditId, started: true };
}

async function postDrift(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
): Promise<HttpResponseInit> {
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const parsed = auditRequest(body.value);
  if (!parsed.ok)
    return apiError(400, "InvalidRequest", "The audit request is not valid; nothing was started.", parsed.problems);
  const { auditId, started } = await startAudit(df.getClient(context), {
    ...parsed.value,
    ...auditBudget(),
    actor: actorName(principal),
  });
  if (!started)
    return apiError(409, "AuditInProgress", `Drift audit ${auditId} is running: wait for it (GET /api/drift).`, {
      auditId,
    });
  return json(
    202,
    { auditId, statusUrl: `${origin(request)}/api/drift` },
    { location: `${origin(request)}/api/drift` },
  );
}

async function getDrift(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const status = await statusOf(df.getClient(context), DRIFT_AUDIT_INSTANCE, true);
  const records = await OperationStore.fromEnv().listDrift();
  return json(200, {
    audit: status
      ? {
          ...((status.customStatus ?? {}) as object),
          runtimeStatus: String(status.runtimeStatus),
          startedAt: status.createdTime,
        }
      : null,
    drifted: records.filter(hasDrift),
    clean: records.filter((record) => !hasDrift(record)).map((record) => record.slug),
  });
}

async function getSlugDrift(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  if (validateSlug(slug).length > 0)
    return apiError(400, "InvalidRequest", `'${slug}' is not a valid slug.`, validateSlug(slug));
  const record = await OperationStore.fromEnv().getDrift(slug);
  return record
    ? json(200, record)
    : apiError(404, "DriftNotAudited", `No audit has looked at '${slug}' yet: POST /api/drift.`);
}

apiRoute({
  name: "postDrift",
  route: "drift",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: postDrift,
});
apiRoute({
  name: "getDrift",
  route: "drift",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: getDrift,
});
apiRoute({
  name: "getSlugDrift",
  route: "slugs/{slug}/drift",
  methods: ["GET"],
  role: "Shire.Reader",
  handler: getSlugDrift,
});
apiRoute({
  name: "repairSlug",
  route: "slugs/{slug}/repair",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: operationRoute(repairOperation),
});

// The scheduled audit: only when the app setting names a schedule (NCRONTAB, e.g. "0 0 3 * * *").
const schedule = process.env.SHIRE_DRIFT_SCHEDULE;
if (schedule) {
  app.timer("driftAuditSchedule", {
    schedule,
    extraInputs: [df.input.durableClient()],
    handler: async (_timer: Timer, context: InvocationContext) => {
      const { auditId, started } = await startAudit(df.getClient(context), { ...auditBudget(), actor: "schedule" });
      context.log(
        started
          ? `Scheduled drift audit ${auditId} started.`
          : `Drift audit ${auditId} still runs: this schedule's is skipped.`,
      );
    },
  });
}
