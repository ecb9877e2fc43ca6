/**
 * The dry run: what install would change, per resource, without changing anything.
 *
 * - `GET /api/slugs/{slug}/plan[?image=...]`: the slug's last installed spec (the defaults for a
 *   slug Shire has never installed), optionally with another image.
 * - `POST /api/slugs/{slug}/plan` with an install body: exactly what that install request would do.
 *
 * Both list the removals first: what the slug has applied that the plan no longer holds (prune).
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import {
  contextProblems,
  validateImage,
  validateInstallRequest,
  validateSlug,
  withRecordedBotIdentity,
} from "../model/validate";
import { planSlug } from "../model/plan";
import type { SlugSpec } from "../model/spec";
import { dryRun } from "./dry-run";
import { knownOutputs, pruneSteps } from "../operations/steps";
import { activityDepsFromEnv } from "../../activities/deps";
import { OperationStore } from "../operations/records";
import { lastInstallRequest, recordedSpec } from "../operations/slug-spec";
import { apiError, json, readJson } from "./responses";
import { apiRoute } from "./route";
import { planContextFromEnv } from "./plan-context";
import { directoryQuotaFor, directoryQuotaFromEnv, ledgerDirectoryClaims } from "./directory-quota";
import { placeSlug } from "./install";

async function specForGet(
  request: HttpRequest,
  slug: string,
): Promise<{ spec: SlugSpec } | { response: HttpResponseInit }> {
  const image = request.query.get("image") ?? undefined;
  const allowMovingTag = request.query.get("allowMovingTag") === "true";
  const stored = await lastInstallRequest(OperationStore.fromEnv(), slug);
  if (!stored) {
    const validation = validateInstallRequest(slug, image ? { image, allowMovingTag } : {});
    return validation.ok
      ? { spec: validation.spec }
      : { response: apiError(400, "InvalidRequest", "The plan request is not valid.", validation.problems) };
  }
  // A stored spec was validated when it was installed: plan it as it is, with the image asked for.
  if (image === undefined) return { spec: stored };
  const problem = validateImage(image, allowMovingTag);
  return problem
    ? {
        response: apiError(400, "InvalidRequest", "The plan request is not valid.", [
          { path: "image", message: problem },
        ]),
      }
    : { spec: { ...stored, image } };
}

async function planForSlug(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const slugProblems = validateSlug(slug);
  if (slugProblems.length > 0) return apiError(400, "InvalidRequest", `'${slug}' is not a valid slug.`, slugProblems);
  let spec: SlugSpec;
  if (request.method === "POST") {
    const body = await readJson(request);
    if (!body.ok) return body.response;
    const validation = validateInstallRequest(slug, body.value);
    if (!validation.ok)
      return apiError(
        400,
        "InvalidRequest",
        `The install request has ${validation.problems.length} problem(s).`,
        validation.problems,
      );
    // What install would do with this body: an installed slug's Teams bot keeps its identity.
    const store = OperationStore.fromEnv();
    const settled = withRecordedBotIdentity(validation, await recordedSpec(store, slug, await store.getSlug(slug)));
    if (!settled.ok) return apiError(409, "BotIdentityChange", settled.message);
    spec = settled.spec;
  } else {
    const chosen = await specForGet(request, slug);
    if ("response" in chosen) return chosen.response;
    spec = chosen.spec;
  }
  const store = OperationStore.fromEnv();
  const [current, applied] = await Promise.all([store.getSlug(slug), store.getApplied(slug)]);
  // Where the install would go (or why it would be refused), as install decides it.
  const placement = await placeSlug(spec, current, applied, store, false);
  if (!placement.ok) return placement.response;
  const { subscriptionId } = placement;
  const context = planContextFromEnv(process.env, subscriptionId);
  const problems = contextProblems(spec, context);
  if (problems.length > 0)
    return apiError(400, "InvalidRequest", `The install request has ${problems.length} problem(s).`, problems);
  const deps = activityDepsFromEnv(subscriptionId);
  const plan = planSlug(spec, context);
  const [changes, directoryQuota] = await Promise.all([
    dryRun(plan, deps, pruneSteps(plan, applied), knownOutputs(applied)),
    // Counts other installs' claims, makes none.
    directoryQuotaFor(plan, deps, directoryQuotaFromEnv(), {
      claims: ledgerDirectoryClaims(store, deps.brokerPrincipalId),
      slug,
      write: false,
    }),
  ]);
  const summary = { create: 0, update: 0, unchanged: 0, delete: 0, "after-dependencies": 0, error: 0 };
  for (const change of changes) summary[change.action]++;
  // Whether Entra's created-objects quota has room for what install would create (absent when unlimited).
  return json(200, {
    slug,
    spec,
    placement: { subscriptionId, rooms: placement.rooms },
    summary,
    changes,
    ...(directoryQuota ? { directoryQuota } : {}),
  });
}

apiRoute({
  name: "planSlug",
  route: "slugs/{slug}/plan",
  methods: ["GET", "POST"],
  role: "Shire.Reader",
  handler: planForSlug,
});
