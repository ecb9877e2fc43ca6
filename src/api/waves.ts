/**
 * Upgrade waves: `POST /api/waves` and a message on the `shire-waves` storage queue (same body)
 * start one (orchestrations/wave.ts); `GET /api/waves/{id}` shows it, slug by slug;
 * `POST /api/waves/{id}/pause|resume|cancel` steer it. The wave's id comes from its body (or its
 * `idempotencyKey`), so the same message delivered twice, or the same POST sent twice, names one
 * wave: the second start answers with the first.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { app } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableClient } from "durable-functions";
import { validateWaveRequest, waveIdFor } from "../model/wave";
import { OperationStore } from "../operations/records";
import { countSlugs, newWaveRecord, type WaveControl, type WaveRecord, type WaveStatus } from "../operations/waves";
import "../operations/wave-activities";
import { WAVE_CONTROL_EVENT } from "../contract/wave";
import { WAVE_ORCHESTRATION, type WaveInput } from "../../orchestrations/wave";
import { actorName, type Principal } from "./auth";
import { apiError, json, origin, readJson } from "./responses";
import { apiRoute } from "./route";
import { validateUpgradeRequest } from "./upgrade";

export const WAVE_QUEUE = "shire-waves";

/** App settings can shorten how often a wave looks at its upgrades (tests, demos). */
function pollMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.SHIRE_WAVE_POLL_MS);
  return Number.isFinite(value) && value > 0 ? value : 5_000;
}

async function instanceExists(client: DurableClient, id: string): Promise<boolean> {
  try {
    return Boolean(await client.getStatus(id, { showInput: false }));
  } catch {
    return false; // getStatus rejects on 404
  }
}

export type WaveStart = { ok: true; waveId: string; duplicate: boolean } | { ok: false; response: HttpResponseInit };

/**
 * Validate, then start the wave unless it exists: its record first (kept if it is there), then
 * its instance (never restarted: a finished wave's id stays finished).
 */
export async function startWave(
  client: DurableClient,
  body: unknown,
  actor: string,
  source: string,
): Promise<WaveStart> {
  const validation = validateWaveRequest(body);
  const image =
    body && typeof body === "object" && !Array.isArray(body)
      ? validateUpgradeRequest({
          image: (body as Record<string, unknown>).image,
          ...((body as Record<string, unknown>).allowMovingTag !== undefined
            ? { allowMovingTag: (body as Record<string, unknown>).allowMovingTag }
            : {}),
        })
      : undefined;
  const problems = [
    ...(validation.ok ? [] : validation.problems),
    ...(image && !image.ok ? image.problems.filter((problem) => problem.path === "image") : []),
  ];
  if (!validation.ok || problems.length > 0)
    return {
      ok: false,
      response: apiError(
        400,
        "InvalidRequest",
        `The wave request has ${problems.length} problem(s); nothing was started.`,
        problems,
      ),
    };
  const request = validation.request;
  const waveId = waveIdFor(request);
  const store = OperationStore.fromEnv();
  if ((await store.getWave<WaveRecord>(waveId)) && (await instanceExists(client, waveId)))
    return { ok: true, waveId, duplicate: true };
  const now = new Date().toISOString();
  await store.updateWave<WaveRecord>(
    waveId,
    (current) => current ?? newWaveRecord(waveId, request, actor, source, now),
  );
  if (await instanceExists(client, waveId)) return { ok: true, waveId, duplicate: true };
  const input: WaveInput = { waveId, actor, request, pollMs: pollMsFromEnv() };
  try {
    await client.startNew(WAVE_ORCHESTRATION, { instanceId: waveId, input });
  } catch (error) {
    // Another delivery of the same message started it a moment ago.
    if (await instanceExists(client, waveId)) return { ok: true, waveId, duplicate: true };
    throw error;
  }
  return { ok: true, waveId, duplicate: false };
}

async function postWave(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
): Promise<HttpResponseInit> {
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const started = await startWave(df.getClient(context), body.value, actorName(principal), "api");
  if (!started.ok) return started.response;
  const statusUrl = `${origin(request)}/api/waves/${started.waveId}`;
  return json(
    started.duplicate ? 200 : 202,
    { waveId: started.waveId, statusUrl, ...(started.duplicate ? { duplicate: true } : {}) },
    { location: statusUrl },
  );
}

async function getWave(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id;
  if (!/^wave-[0-9a-f]{20}$/.test(id)) return apiError(404, "WaveNotFound", `Shire knows no wave '${id}'.`);
  let instance: df.DurableOrchestrationStatus | undefined;
  try {
    instance = await df.getClient(context).getStatus(id, { showInput: true });
  } catch {
    instance = undefined;
  }
  const live = instance?.customStatus ?? undefined;
  const stored = await OperationStore.fromEnv().getWave<WaveRecord>(id);
  // A record lost with the last writes before a crash: what the instance knows until the wave writes it again.
  const input = instance?.input as WaveInput | undefined;
  const record =
    stored ??
    (input?.request
      ? newWaveRecord(
          id,
          input.request,
          input.actor,
          "the wave's instance (its record is being rewritten)",
          new Date().toISOString(),
        )
      : undefined);
  if (!record) return apiError(404, "WaveNotFound", `Shire knows no wave '${id}'.`);
  // A wave's instance that was terminated or crashed writes no last record: say how it ended.
  const ended = instance?.runtimeStatus;
  if (
    (ended === df.OrchestrationRuntimeStatus.Terminated || ended === df.OrchestrationRuntimeStatus.Failed) &&
    !FINISHED.includes(record.status)
  )
    return json(200, {
      ...record,
      status: "failed",
      message: `The wave's instance ${ended === df.OrchestrationRuntimeStatus.Terminated ? "was terminated" : "failed"} before it finished; upgrades it started ran to their end (see each slug's operationId).`,
    });
  // The record has the slugs' states as of the last finished batch; the instance knows which run now.
  const running = (live as { running?: unknown } | undefined)?.running;
  if (Array.isArray(running) && !FINISHED.includes(record.status)) {
    const slugs = { ...record.slugs };
    for (const slug of running)
      if (typeof slug === "string" && slugs[slug] && slugs[slug].state === "pending")
        slugs[slug] = { ...slugs[slug], state: "upgrading" };
    return json(200, { ...record, slugs, counts: countSlugs(slugs), live });
  }
  return json(200, { ...record, ...(live ? { live } : {}) });
}

const CONTROL: Record<string, WaveControl> = { pause: "pause", resume: "run", cancel: "cancel" };
/** A wave in one of these has ended: nothing moves it again. */
const FINISHED: WaveStatus[] = ["succeeded", "stopped", "canceled", "failed"];

/** The instance's end when it was terminated or failed (it wrote no last record); undefined otherwise. */
async function endedInstance(client: df.DurableClient, id: string): Promise<df.OrchestrationRuntimeStatus | undefined> {
  let status: df.OrchestrationRuntimeStatus | undefined;
  try {
    status = (await client.getStatus(id))?.runtimeStatus;
  } catch {
    return undefined; // not found: the record decides
  }
  return status === df.OrchestrationRuntimeStatus.Terminated || status === df.OrchestrationRuntimeStatus.Failed
    ? status
    : undefined;
}

async function controlWave(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id;
  const action = request.params.action;
  // Own keys only: `constructor` or `toString` is not an action (the path is the caller's).
  const wanted = Object.hasOwn(CONTROL, action) ? CONTROL[action] : undefined;
  if (!wanted) return apiError(404, "NotFound", `Waves take pause, resume or cancel, not '${action}'.`);
  const store = OperationStore.fromEnv();
  const record = /^wave-[0-9a-f]{20}$/.test(id) ? await store.getWave<WaveRecord>(id) : undefined;
  if (!record) return apiError(404, "WaveNotFound", `Shire knows no wave '${id}'.`);
  if (FINISHED.includes(record.status))
    return apiError(409, "WaveFinished", `Wave ${id} has finished (${record.status}): there is nothing to ${action}.`, {
      status: record.status,
    });
  // An instance terminated or crashed writes no last record: it has ended all the same.
  const client = df.getClient(context);
  const ended = await endedInstance(client, id);
  if (ended)
    return apiError(
      409,
      "WaveFinished",
      `Wave ${id} has finished (failed: its instance ${ended === df.OrchestrationRuntimeStatus.Terminated ? "was terminated" : "failed"}): there is nothing to ${action}.`,
      { status: "failed" },
    );
  let refused: string | undefined;
  const updated = await store.updateWave<WaveRecord>(id, (current) => {
    if (!current) throw new Error(`Wave ${id} has no record.`);
    if (current.control === "cancel" && wanted !== "cancel") {
      refused = `Wave ${id} is being canceled: it cannot be ${action}d.`;
      return current;
    }
    return { ...current, control: wanted, updatedAt: new Date().toISOString() };
  });
  if (refused) return apiError(409, "WaveCanceled", refused);
  try {
    await client.raiseEvent(id, WAVE_CONTROL_EVENT, { control: wanted });
  } catch (error) {
    // The wave reads its control from the record at every look: the event only wakes it sooner.
    context.warn(`Wave ${id}: the ${action} event was not delivered (${(error as Error).message}).`);
  }
  const statusUrl = `${origin(request)}/api/waves/${id}`;
  return json(202, { waveId: id, control: updated.control, statusUrl }, { location: statusUrl });
}

apiRoute({
  name: "startWave",
  route: "waves",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: postWave,
});
apiRoute({
  name: "getWave",
  route: "waves/{id}",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: getWave,
});
apiRoute({
  name: "controlWave",
  route: "waves/{id}/{action}",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: controlWave,
});

/**
 * A wave from the queue: the same body as `POST /api/waves`. At-least-once delivery: a message
 * delivered again names the same wave and starts nothing. A body that is not a valid wave fails
 * the message (after the host's retries it lands in `shire-waves-poison`, with the reason logged).
 */
app.storageQueue("waveQueue", {
  queueName: WAVE_QUEUE,
  connection: "AzureWebJobsStorage",
  extraInputs: [df.input.durableClient()],
  handler: async (message: unknown, context: InvocationContext) => {
    const id = String(context.triggerMetadata?.id ?? "unknown");
    const started = await startWave(df.getClient(context), message, "queue", `queue:${WAVE_QUEUE}:${id}`);
    if (!started.ok) {
      const body = started.response.jsonBody as { error?: { message?: string; details?: unknown } };
      throw new Error(
        `Wave message ${id} is not a valid wave: ${body.error?.message} ${JSON.stringify(body.error?.details ?? [])}`,
      );
    }
    context.log(`Wave message ${id}: ${started.duplicate ? "wave already started" : "started"} ${started.waveId}.`);
  },
});
