/**
 * The teardown operation and its controls. `POST /api/slugs/{slug}/teardown` with
 * `{"confirm": "<slug>", "purge"?: bool}` retires the slug, then destroys it after the grace period
 * (`SHIRE_TEARDOWN_GRACE_SECONDS`, default 7 days) or at once with purge. A teardown with purge
 * while the slug is retired ends its grace period now. `POST .../teardown/cancel` during the grace
 * period restores the slug. A resource group Shire did not tag as this slug's is refused (422).
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug, type Problem } from "../model/validate";
import { deriveNames } from "../model/names";
import { planSlug } from "../model/plan";
import { convergedSpec } from "../operations/slug-spec";
import { destroySteps, knownOutputs, restoreSteps, retireSteps } from "../operations/steps";
import {
  TEARDOWN_CONTROL_EVENT,
  TEARDOWN_ORCHESTRATION,
  type TeardownControl,
  type TeardownInput,
} from "../../orchestrations/teardown";
import { instanceIdForSlug } from "../../orchestrations/operation";
import { activityDepsFromEnv } from "../../activities/deps";
import { getOrUndefined } from "../../activities/arm";
import { BrokerError } from "../errors";
import { invalid, startOperation, type OperationDefinition } from "./pipeline";
import { planContextForSlug } from "./plan-context";
import { apiError, json, origin, readJson } from "./responses";
import { actorName, type Principal } from "./auth";
import { runningOperation } from "./live-status";
import { readWithRetry } from "./read-retry";

const DEFAULT_GRACE_SECONDS = 7 * 24 * 60 * 60;

export function teardownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SHIRE_TEARDOWN_GRACE_SECONDS;
  if (raw === undefined || raw === "") return DEFAULT_GRACE_SECONDS * 1000;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new BrokerError("NotConfigured", `SHIRE_TEARDOWN_GRACE_SECONDS must be a number of seconds (got '${raw}').`, {
      statusCode: 503,
    });
  }
  return Math.round(seconds * 1000);
}

export interface TeardownRequest {
  confirm: string;
  purge: boolean;
}

/** `{confirm, purge?}`: confirm must name the slug, exactly. Every problem at once; unknown fields refused. */
export function validateTeardownRequest(
  slug: string,
  body: unknown,
): { ok: true; request: TeardownRequest } | { ok: false; problems: Problem[] } {
  const problems: Problem[] = [...validateSlug(slug)];
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return {
      ok: false,
      problems: [
        ...problems,
        { path: "", message: `the body must be {"confirm": "${slug}"} (with "purge": true to skip the grace period).` },
      ],
    };
  }
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (key !== "confirm" && key !== "purge") problems.push({ path: key, message: "is not a known field." });
  if (typeof record.confirm !== "string")
    problems.push({ path: "confirm", message: `is required: the slug's name ("${slug}"), to confirm.` });
  else if (record.confirm !== slug) problems.push({ path: "confirm", message: `must be exactly "${slug}".` });
  if (record.purge !== undefined && typeof record.purge !== "boolean")
    problems.push({ path: "purge", message: "must be true or false." });
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, request: { confirm: slug, purge: record.purge === true } };
}

export const teardownOperation: OperationDefinition<TeardownInput> = {
  kind: "teardown",
  orchestration: TEARDOWN_ORCHESTRATION,
  prepare: async (slug, body, { store, current }) => {
    const validation = validateTeardownRequest(slug, body);
    if (!validation.ok) return invalid("teardown", validation.problems);
    const planContext = planContextForSlug(current);
    const names = deriveNames(slug, { subscriptionId: planContext.subscriptionId });
    // The last guard before anything changes: only a group Shire tagged as this slug's.
    const deps = activityDepsFromEnv(current?.subscriptionId);
    const group = await readWithRetry(() =>
      getOrUndefined(() => deps.clients.resources.resourceGroups.get(names.resourceGroup)),
    );
    if (group && (group.tags?.["managed-by"] !== "shire" || group.tags?.["shire-slug"] !== slug)) {
      return {
        ok: false,
        response: apiError(
          422,
          "NotManagedByShire",
          `Resource group ${names.resourceGroup} is not tagged managed-by=shire and shire-slug=${slug}: Shire does not tear it down. Nothing was changed.`,
          { resourceGroup: names.resourceGroup, tags: group.tags ?? {} },
        ),
      };
    }
    const plan = planSlug(await convergedSpec(store, slug), planContext);
    const applied = await store.getApplied(slug);
    const resourceGroupId = `/subscriptions/${planContext.subscriptionId}/resourceGroups/${names.resourceGroup}`;
    const purge = validation.request.purge;
    const retire = retireSteps(plan);
    const destroy = destroySteps(plan, applied, { purge: false, resourceGroupId });
    const destroyWithPurge = destroySteps(plan, applied, { purge: true, resourceGroupId });
    return {
      ok: true,
      prepared: {
        input: {
          purge,
          graceMs: teardownGraceMs(),
          retire,
          restore: restoreSteps(plan),
          destroy,
          destroyWithPurge,
          knownOutputs: knownOutputs(applied),
        },
        request: validation.request,
        steps: [...retire, ...(purge ? destroyWithPurge : destroy)].map((step) => ({
          id: step.id,
          title: step.title,
          kind: step.kind,
          ...(step.verb === "remove" ? { verb: "remove" as const } : {}),
          status: "pending" as const,
        })),
        slug: { resourceGroup: names.resourceGroup },
      },
    };
  },
};

/** Raise the operator's word on the running teardown, when it is still waiting (or about to). */
async function controlTeardown(
  context: InvocationContext,
  slug: string,
  control: TeardownControl,
  request: HttpRequest,
): Promise<HttpResponseInit> {
  const client = df.getClient(context);
  const running = await runningOperation(client, slug);
  if (!running || running.kind !== "teardown") {
    return apiError(
      409,
      "NoTeardownRunning",
      `Slug '${slug}' has no teardown in its grace period${running ? ` (${running.kind} ${running.operationId} runs)` : ""}.`,
    );
  }
  if (running.stage === "destroy") {
    return apiError(
      409,
      "DestroyStarted",
      `The teardown of '${slug}' (${running.operationId}) is already destroying the footprint: it cannot be stopped now.`,
      {
        operationId: running.operationId,
      },
    );
  }
  await client.raiseEvent(instanceIdForSlug(slug), TEARDOWN_CONTROL_EVENT, control);
  const statusUrl = `${origin(request)}/api/operations/${running.operationId}`;
  return json(202, { operationId: running.operationId, statusUrl, action: control.action }, { location: statusUrl });
}

export async function teardownSlug(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const running = await runningOperation(df.getClient(context), slug);
  if (running?.kind === "teardown") {
    // A second teardown while the first waits out its grace period: with purge it destroys now.
    const validation = validateTeardownRequest(slug, body.value);
    if (!validation.ok) return invalid("teardown", validation.problems).response;
    if (!validation.request.purge) {
      return apiError(
        409,
        "OperationInProgress",
        `Slug '${slug}' is already being torn down (${running.operationId}, ${running.stage ?? "running"}); send "purge": true to destroy it now.`,
        {
          operationId: running.operationId,
          kind: "teardown",
        },
      );
    }
    return controlTeardown(context, slug, { action: "destroyNow", purge: true, actor: actorName(principal) }, request);
  }
  return startOperation(
    teardownOperation,
    { slug, body: body.value, actor: actorName(principal), origin: origin(request) },
    context,
  );
}

export async function cancelTeardown(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
  slug: string = request.params.slug,
): Promise<HttpResponseInit> {
  const problems = validateSlug(slug);
  if (problems.length > 0) return invalid("teardown", problems).response;
  return controlTeardown(context, slug, { action: "cancel", actor: actorName(principal) }, request);
}
