/**
 * `GET /api/slugs/{slug}/teams-app`: the slug's Teams app package (src/model/teams-app.ts), from
 * what its install applied: the bot's app id (the Azure Bot's msaAppId: the slug's managed
 * identity's client id, or its bot app's id), the tab pages, the app's URL. A slug without Teams
 * is a 409 that says how to turn it on.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { validateSlug } from "../model/validate";
import { teamsAppPackage } from "../model/teams-app";
import { OperationStore } from "../operations/records";
import { apiError } from "./responses";
import { apiRoute } from "./route";
import { planContextForSlug } from "./plan-context";

/** Semver that grows with each operation on the slug: Teams updates an uploaded app only to a higher version. */
function packageVersion(updatedAt: string): string {
  const stamp = new Date(updatedAt).toISOString();
  return `1.${Number(stamp.slice(0, 10).replace(/-/g, ""))}.${Number(stamp.slice(11, 19).replace(/:/g, ""))}`;
}

async function teamsApp(request: HttpRequest): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const problems = validateSlug(slug);
  if (problems.length > 0) return apiError(400, "InvalidRequest", `'${slug}' is not a valid slug.`, problems);
  const store = OperationStore.fromEnv();
  const [record, applied] = await Promise.all([store.getSlug(slug), store.getApplied(slug)]);
  if (!record) return apiError(404, "SlugNotFound", `Shire knows no slug '${slug}'.`);
  const output = (node: string, name: string) => applied?.nodes[node]?.outputs[name];
  // Either bot identity: what the Azure Bot was converged with (references resolved).
  const botAppId = (applied?.nodes.botService?.desired as { msaAppId?: unknown } | undefined)?.msaAppId;
  const configurationUrl = output("staticWebsite", "pageUrl");
  const contentUrl = output("staticWebsite", "tabUrl");
  const fqdn = output("containerApp", "fqdn");
  if (
    typeof botAppId !== "string" ||
    typeof configurationUrl !== "string" ||
    typeof contentUrl !== "string" ||
    typeof fqdn !== "string"
  ) {
    return apiError(
      409,
      "TeamsNotInstalled",
      `Slug '${slug}' has no Teams bot and tab installed (state ${record.state}): install it with "channels": {"teams": {"enabled": true}} first.`,
    );
  }
  const zip = teamsAppPackage({
    slug,
    subscriptionId: planContextForSlug(record).subscriptionId,
    botAppId,
    configurationUrl: configurationUrl.replace(/\/?$/, "/"),
    contentUrl,
    appUrl: `https://${fqdn}`,
    version: packageVersion(record.updatedAt),
  });
  return {
    status: 200,
    body: zip,
    headers: {
      "content-type": "application/zip",
      "content-disposition": `attachment; filename="${slug}-teams-app.zip"`,
    },
  };
}

apiRoute({
  name: "teamsApp",
  route: "slugs/{slug}/teams-app",
  methods: ["GET"],
  role: "Shire.Reader",
  handler: teamsApp,
});
