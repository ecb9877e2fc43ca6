/**
 * `GET /api/slugs/{slug}/template`: the slug's footprint as a subscription-scope ARM deployment
 * template (src/model/template.ts), planned from the spec its footprint last converged to, with
 * the Entra ids Shire applied as the defaults of their parameters. Secrets are never in it.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { validateSlug } from "../model/validate";
import { planSlug } from "../model/plan";
import { slugTemplate } from "../model/template";
import { OperationStore } from "../operations/records";
import { knownOutputs } from "../operations/steps";
import { planContextForSlug } from "./plan-context";
import { appliedSpec } from "../operations/slug-spec";
import { apiError, json } from "./responses";
import { apiRoute } from "./route";

async function exportTemplate(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const problems = validateSlug(slug);
  if (problems.length > 0) return apiError(400, "InvalidRequest", `'${slug}' is not a valid slug.`, problems);
  const store = OperationStore.fromEnv();
  const spec = await appliedSpec(store, slug);
  if (!spec) return apiError(404, "SlugNotFound", `Shire knows no slug '${slug}': it has nothing to export.`);
  const context = planContextForSlug(await store.getSlug(slug));
  const template = slugTemplate(planSlug(spec, context), {
    subscriptionId: context.subscriptionId,
    knownOutputs: knownOutputs(await store.getApplied(slug)),
  });
  return json(200, template, { "content-disposition": `attachment; filename="claw-${slug}.json"` });
}

apiRoute({
  name: "exportTemplate",
  route: "slugs/{slug}/template",
  methods: ["GET"],
  role: "Shire.Reader",
  handler: exportTemplate,
});
