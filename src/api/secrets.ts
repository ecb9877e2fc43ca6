/**
 * `PUT /api/slugs/{slug}/secrets/{name}`: an operator hands Shire a secret it cannot make (a
 * Telegram bot token, a Foundry key without an account). The body is the value: raw text
 * (trailing line breaks dropped), or JSON `{"value": "..."}`. This function writes it straight to
 * the slug's vault with the broker's identity, then starts a short rotate operation that restarts
 * the app onto it; only the new version id enters that operation. The value is in no response, log,
 * record or durable state: it exists in this function's memory and in the vault.
 *
 * Only the slug's operator-supplied secrets are accepted (404 otherwise), and only when no operation
 * runs (409 before anything is written). On an installed slug the app is restarted onto it (202 with
 * the operation); on a failed one (an install waiting for exactly this secret) it is only written
 * (200): install again to continue.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug } from "../model/validate";
import { OperationStore, type SlugRecord } from "../operations/records";
import { ROTATION_TAGS } from "../contract/rotation";
import { keyVaultUrl } from "../azure/endpoints";
import { activityDepsFromEnv } from "../../activities/deps";
import { redact } from "../../activities/errors";
import { ROTATE_ORCHESTRATION, type RotateInput } from "../../orchestrations/rotate";
import { busyResponse, invalid, startOperation, type OperationDefinition } from "./pipeline";
import { prepareRotation, slugSecrets } from "./rotate";
import { apiError, json, origin } from "./responses";
import { actorName, type Principal } from "./auth";
import { runningOperation } from "./live-status";
import { reconcileSlug } from "./reconcile";
import { planContextForSlug } from "./plan-context";
import { planSlug } from "../model/plan";
import type { SlugSpec } from "../model/spec";
import { apiRoute } from "./route";

/** Key Vault's limit for a secret value. */
const MAX_SECRET_BYTES = 25 * 1024;

/** The rotation that follows the write: restart onto the version just written, and nothing else rotated. */
export const suppliedSecretOperation: OperationDefinition<RotateInput> = {
  kind: "rotate",
  orchestration: ROTATE_ORCHESTRATION,
  prepare: async (slug, body, { store }) => {
    const { secret: name, version } = body as { secret: string; version: string };
    const found = await slugSecrets(store, slug);
    if (!found.ok) return found;
    const supplied = found.targets.secrets.find((secret) => secret.name === name && secret.kind === "supplied");
    if (!supplied || supplied.secret.kind !== "supplied")
      return invalid("rotate", [{ path: "name", message: `'${name}' is not an operator-supplied secret of ${slug}.` }]);
    const chosen = { ...supplied, secret: { ...supplied.secret, version } };
    return { ok: true, prepared: prepareRotation(found.targets, [chosen], { secret: name, version }) };
  },
};

/** The value from the body, or the response that refuses it. Never echoed, never logged. */
async function readValue(
  request: HttpRequest,
): Promise<{ ok: true; value: string } | { ok: false; response: HttpResponseInit }> {
  const declared = Number(request.headers.get("content-length"));
  const tooLarge = {
    ok: false as const,
    response: apiError(413, "PayloadTooLarge", `A secret is at most ${MAX_SECRET_BYTES} bytes.`),
  };
  if (Number.isFinite(declared) && declared > MAX_SECRET_BYTES + 1024) return tooLarge;
  const body = Buffer.from(await request.arrayBuffer()).toString("utf8");
  let value = body;
  if (/^application\/json\b/i.test(request.headers.get("content-type") ?? "")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { ok: false, response: apiError(400, "InvalidJson", 'A JSON body must be {"value": "<the secret>"}.') };
    }
    const keys = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? Object.keys(parsed) : [];
    if (keys.length !== 1 || keys[0] !== "value" || typeof (parsed as { value: unknown }).value !== "string")
      return {
        ok: false,
        response: apiError(400, "InvalidRequest", 'A JSON body must be {"value": "<the secret>"} and nothing else.'),
      };
    value = (parsed as { value: string }).value;
  }
  value = value.replace(/[\r\n]+$/, "");
  if (!value) return { ok: false, response: apiError(400, "InvalidRequest", "The secret is empty.") };
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) return tooLarge;
  return { ok: true, value };
}

/**
 * The vault and the operator-supplied secrets of the spec the slug was last installed with (a
 * failed install included: its plan says what the operator must supply before it can finish).
 */
async function suppliedSecretsOf(
  store: OperationStore,
  slug: string,
  record: SlugRecord | undefined,
): Promise<{ vaultName: string; names: string[] } | undefined> {
  const applied = await store.getApplied(slug);
  const spec = (applied?.spec ??
    (await store.listOperations(slug)).find((operation) => operation.kind === "install")?.request) as
    SlugSpec | undefined;
  if (!spec || !applied?.nodes.keyVault) return undefined;
  const plan = planSlug(spec, planContextForSlug(record));
  const names = plan.nodes
    .flatMap((node) => (node.kind === "secret" ? [node.desired] : []))
    .filter((desired) => (desired.source as { type?: unknown }).type === "external")
    .map((desired) => desired.secretName as string);
  return { vaultName: (applied.nodes.keyVault.desired as { name: string }).name, names };
}

async function putSecret(
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
): Promise<HttpResponseInit> {
  const { slug, name } = request.params;
  const problems = validateSlug(slug);
  if (problems.length > 0) return invalid("rotate", problems).response;
  const store = OperationStore.fromEnv();
  const client = df.getClient(context);
  const current = await reconcileSlug(store, client, slug);
  if (!current) return apiError(404, "SlugNotFound", `Shire knows no slug '${slug}'.`);
  const supplied = await suppliedSecretsOf(store, slug, current);
  if (!supplied?.names.includes(name))
    return apiError(
      404,
      "SecretNotSupplied",
      `Slug '${slug}' takes no operator-supplied secret '${name}'${supplied?.names.length ? `; it takes: ${supplied.names.join(", ")}` : ""}. Secrets Shire makes itself are rotated with POST /api/slugs/${slug}/rotate.`,
      { accepts: supplied?.names ?? [] },
    );
  // Nothing is written while an operation runs, or in a state that takes neither a restart nor an install.
  const busy = await runningOperation(client, slug);
  if (busy) return busyResponse(slug, busy);
  if (current.state !== "installed" && current.state !== "failed")
    return apiError(
      409,
      "SlugStateConflict",
      `Slug '${slug}' is ${current.state}: a secret is put into an installed slug (the app is restarted onto it) or a failed one (install it again to continue).`,
      { state: current.state, accepts: ["installed", "failed"] },
    );
  const read = await readValue(request);
  if (!read.ok) return read.response;

  let version: string;
  try {
    const deps = activityDepsFromEnv(current.subscriptionId);
    const written = await deps.clients
      .secrets(keyVaultUrl(deps.context.endpoints, supplied.vaultName))
      .setSecret(name, read.value, { tags: { "managed-by": "shire", [ROTATION_TAGS.operation]: "supplied" } });
    version = written.properties.version!;
  } catch (error) {
    const message = redact((error as Error)?.message ?? String(error), [read.value]);
    return apiError(502, "VaultWriteFailed", `Writing '${name}' to vault ${supplied.vaultName} failed: ${message}`);
  }
  if (current.state === "failed")
    return json(200, {
      secret: name,
      version,
      message: `Written to vault ${supplied.vaultName}. Install ${slug} again to continue.`,
    });
  const started = await startOperation(
    suppliedSecretOperation,
    { slug, body: { secret: name, version }, actor: actorName(principal), origin: origin(request) },
    context,
  );
  if (started.status === 202) {
    const { operationId, statusUrl } = started.jsonBody as { operationId: string; statusUrl: string };
    return json(202, { operationId, statusUrl, secret: name, version }, { location: statusUrl });
  }
  // Another operation won the slug between the check and the start: the value is in the vault.
  const refusedBody = started.jsonBody as { error?: { code?: string; message?: string; details?: unknown } };
  return apiError(
    started.status ?? 409,
    refusedBody.error?.code ?? "OperationInProgress",
    `'${name}' was written to the vault (version ${version}), but the restart onto it could not start (${refusedBody.error?.message ?? "the slug is busy"}). The app reads it at its next restart; to restart onto it now, PUT it again once the slug is free.`,
    { written: { secret: name, version }, refused: refusedBody.error?.details },
  );
}

apiRoute({
  name: "putSlugSecret",
  route: "slugs/{slug}/secrets/{name}",
  methods: ["PUT"],
  role: "Shire.Operator",
  durable: true,
  handler: putSecret,
});
