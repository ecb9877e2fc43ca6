/**
 * The one way an operation starts, whatever starts it (HTTP now; queue and timer starters call
 * `startOperation` the same way):
 *
 *   validate (400 listing every problem, nothing written)
 *   -> the slug's lock (409 naming the running operation) and state (409 with the state and what to do)
 *   -> safety rules (422, nothing written)
 *   -> the orchestration of that kind, on the slug's one instance id
 *   -> the operation record and the slug's running state
 *
 * and the orchestration records its result and the slug's settled state when it ends.
 */
import { randomBytes } from "node:crypto";
import type { HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { validateSlug, type Problem } from "../model/validate";
import { OPERATION_RULES, refusal, type OperationKind } from "../operations/lifecycle";
import {
  newOperationId,
  OperationStore,
  type OperationRecord,
  type OperationStep,
  type SlugRecord,
} from "../operations/records";
import { instanceIdForSlug, type OperationInput } from "../../orchestrations/operation";
import type { RetrySettings } from "../../orchestrations/plan-walker";
import { DEFAULT_RETRY } from "../../orchestrations/step-events";
import { apiError, json, origin, readJson } from "./responses";
import { actorName } from "./auth";
import type { RouteHandler } from "./route";
import { runningOperation, type RunningOperation } from "./live-status";
import { isInFlight, reconcileSlug } from "./reconcile";
import { operationTraceparent } from "../telemetry/trace";

/** What an operation's starter prepared: the orchestration's own input, and what the record shows. */
export interface Prepared<TInput extends OperationInput> {
  input: Omit<TInput, keyof OperationInput>;
  /** The validated request as the record keeps it (never secrets). */
  request: unknown;
  /** The steps the operation plans, for the record until the orchestration reports. */
  steps: OperationStep[];
  /** Slug record fields known at start (region, resource group, the subscription an install placed it in). */
  slug?: Partial<Pick<SlugRecord, "region" | "resourceGroup" | "subscriptionId">>;
}

export type Preparation<TInput extends OperationInput> =
  { ok: true; prepared: Prepared<TInput> } | { ok: false; response: HttpResponseInit };

export interface OperationDefinition<TInput extends OperationInput> {
  kind: OperationKind;
  orchestration: string;
  /** Validate and plan, reading what it must and writing nothing. */
  prepare(
    slug: string,
    body: unknown,
    context: { store: OperationStore; current: SlugRecord | undefined },
  ): Promise<Preparation<TInput>>;
}

export function invalid(kind: OperationKind, problems: Problem[]): { ok: false; response: HttpResponseInit } {
  return {
    ok: false,
    response: apiError(
      400,
      "InvalidRequest",
      `The ${kind} request has ${problems.length} problem(s); nothing was changed.`,
      problems,
    ),
  };
}

/** App settings can shorten the walker's retry backoff (tests, demos); unset = the default policy. */
export function retryFromEnv(env: NodeJS.ProcessEnv = process.env): RetrySettings | undefined {
  const first = Number(env.SHIRE_RETRY_FIRST_INTERVAL_MS);
  if (!Number.isFinite(first) || first <= 0) return undefined;
  const max = Number(env.SHIRE_RETRY_MAX_INTERVAL_MS);
  const attempts = Number(env.SHIRE_RETRY_MAX_ATTEMPTS);
  const propagationAttempts = Number(env.SHIRE_RETRY_MAX_PROPAGATION_ATTEMPTS);
  const propagationInterval = Number(env.SHIRE_RETRY_MAX_PROPAGATION_INTERVAL_MS);
  const maxAttempts = Number.isInteger(attempts) && attempts > 0 ? attempts : DEFAULT_RETRY.maxAttempts;
  const maxRetryIntervalMs = Number.isFinite(max) && max >= first ? max : first * 8;
  return {
    firstRetryIntervalMs: first,
    backoffCoefficient: 2,
    maxRetryIntervalMs,
    // Unset: the default policy's proportion (15 s of 60 s), so a scaled schedule keeps its shape.
    maxPropagationIntervalMs:
      Number.isFinite(propagationInterval) && propagationInterval >= first
        ? propagationInterval
        : Math.max(
            first,
            Math.round(
              (maxRetryIntervalMs * DEFAULT_RETRY.maxPropagationIntervalMs!) / DEFAULT_RETRY.maxRetryIntervalMs,
            ),
          ),
    maxAttempts,
    maxPropagationAttempts:
      Number.isInteger(propagationAttempts) && propagationAttempts > 0
        ? propagationAttempts
        : Math.max(maxAttempts, DEFAULT_RETRY.maxPropagationAttempts ?? maxAttempts),
  };
}

export function busyResponse(slug: string, busy: RunningOperation): HttpResponseInit {
  return apiError(
    409,
    "OperationInProgress",
    `Slug '${slug}' is busy: ${busy.kind} operation ${busy.operationId} is ${busy.runtimeStatus.toLowerCase()}${busy.stage ? ` (${busy.stage})` : ""}. Wait for it to finish${busy.kind === "teardown" ? ", or cancel it with POST /api/slugs/" + slug + "/teardown/cancel" : ""}.`,
    { operationId: busy.operationId, kind: busy.kind, ...(busy.stage ? { stage: busy.stage } : {}) },
  );
}

/**
 * Start the slug's one instance. The durable host refuses an id that still runs: then answer with
 * the running operation. If it finished between the refusal and our look, start again once.
 */
async function startOnce(
  client: DurableClient,
  orchestration: string,
  slug: string,
  input: OperationInput,
): Promise<HttpResponseInit | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await client.startNew(orchestration, { instanceId: instanceIdForSlug(slug), input });
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

export interface StartRequest {
  slug: string;
  body: unknown;
  actor: string;
  /** Where the operation's status is read (`statusUrl`). */
  origin: string;
}

export async function startOperation<TInput extends OperationInput>(
  definition: OperationDefinition<TInput>,
  request: StartRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  return startOperationWith(definition, request, df.getClient(context), {
    warn: (message) => context.warn(message),
  });
}

/** An operation's HTTP route: the slug from the path, the JSON body, the caller as the actor. */
export function operationRoute<TInput extends OperationInput>(definition: OperationDefinition<TInput>): RouteHandler {
  return async (request, context, principal) => {
    const body = await readJson(request);
    if (!body.ok) return body.response;
    return startOperation(
      definition,
      { slug: request.params.slug, body: body.value, actor: actorName(principal), origin: origin(request) },
      context,
    );
  };
}

export interface StartOptions {
  /** The operation's id, when the starter must be able to find it again (a wave's re-delivered start). */
  operationId?: string;
  warn?: (message: string) => void;
}

/** `startOperation` for starters that hold a durable client themselves (a wave's activities). */
export async function startOperationWith<TInput extends OperationInput>(
  definition: OperationDefinition<TInput>,
  request: StartRequest,
  client: DurableClient,
  options: StartOptions = {},
): Promise<HttpResponseInit> {
  const { slug } = request;
  const store = OperationStore.fromEnv();
  // A malformed slug is reported with every other problem of the request: it names no record to look at.
  const slugProblems = validateSlug(slug);
  let current: SlugRecord | undefined;
  if (slugProblems.length === 0) {
    const busy = await runningOperation(client, slug);
    if (busy) return busyResponse(slug, busy);
    current = await reconcileSlug(store, client, slug);
    if (current && isInFlight(current.state)) {
      // Its instance has ended but a step is still finishing its current attempt.
      return apiError(
        409,
        "OperationStopping",
        `Slug '${slug}': operation ${current.lastOperationId} was stopped and its steps are finishing their current attempts. Try again shortly.`,
        { operationId: current.lastOperationId },
      );
    }
    const state = current?.state ?? "new";
    const refused = refusal(definition.kind, state);
    if (refused)
      return apiError(409, "SlugStateConflict", refused, { state, accepts: OPERATION_RULES[definition.kind].accepts });
  }

  const preparation = await definition.prepare(slug, request.body, { store, current });
  if (!preparation.ok) return preparation.response;
  if (slugProblems.length > 0) return invalid(definition.kind, slugProblems).response;
  const { prepared } = preparation;

  const now = new Date();
  const operationId = options.operationId ?? newOperationId(slug, now, randomBytes(4).toString("hex"));
  const retry = retryFromEnv();
  // The operation's trace starts here, in a request that is never replayed.
  const trace = operationTraceparent(definition.kind, slug, operationId);
  // A slug's subscription is its record's once it has one (placement never moves it).
  const subscriptionId = current?.subscriptionId ?? prepared.slug?.subscriptionId;
  const input = {
    operationId,
    slug,
    kind: definition.kind,
    actor: request.actor,
    request: prepared.request,
    ...(subscriptionId ? { subscriptionId } : {}),
    ...(retry ? { retry } : {}),
    ...(trace ? { trace } : {}),
    ...prepared.input,
  } as TInput;
  const lost = await startOnce(client, definition.orchestration, slug, input);
  if (lost) return lost;

  const record: OperationRecord = {
    id: operationId,
    slug,
    kind: definition.kind,
    actor: request.actor,
    status: "running",
    message: `${definition.kind} started.`,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    request: prepared.request,
    steps: prepared.steps,
    instanceId: instanceIdForSlug(slug),
  };
  try {
    // false = the orchestration already recorded its result (it can be that fast): keep that one.
    await store.createOperation(record);
    await store.updateSlug(slug, (existing) =>
      existing?.lastOperationId === operationId
        ? existing
        : {
            // What the slug record knew (its resources among it) stays until the result replaces it.
            ...existing,
            slug,
            state: OPERATION_RULES[definition.kind].running,
            version: existing?.version ?? null,
            region: prepared.slug?.region ?? existing?.region ?? "",
            resourceGroup: prepared.slug?.resourceGroup ?? existing?.resourceGroup ?? `claw-${slug}`,
            ...(subscriptionId || existing?.subscriptionId
              ? { subscriptionId: existing?.subscriptionId ?? subscriptionId }
              : {}),
            lastOperationId: operationId,
            updatedAt: now.toISOString(),
          },
    );
  } catch (error) {
    // The operation runs regardless and writes its final record when it ends: say so, don't fail.
    options.warn?.(
      `Operation ${operationId} started but its initial record was not written: ${(error as Error).message}`,
    );
  }
  const statusUrl = `${request.origin}/api/operations/${operationId}`;
  return json(202, { operationId, statusUrl }, { location: statusUrl });
}
