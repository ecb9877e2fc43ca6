/**
 * Slug routes: install and teardown (through the operation pipeline), list, get. Invalid input
 * gets 400 listing every problem, and nothing is written anywhere.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug } from "../model/validate";
import { OperationStore } from "../operations/records";
import { actorOf, apiError, json, origin, readJson, withErrors } from "./responses";
import { startOperation } from "./pipeline";
import { installOperation } from "./install";
import { cancelTeardown, teardownSlug } from "./teardown";
import { reconcileSlug } from "./reconcile";

async function installSlug(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJson(request);
  if (!body.ok) return body.response;
  return startOperation(
    installOperation,
    { slug: request.params.slug, body: body.value, actor: actorOf(request), origin: origin(request) },
    context,
  );
}

async function listSlugs(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const store = OperationStore.fromEnv();
  const client = df.getClient(context);
  const slugs = await Promise.all(
    (await store.listSlugs()).map(async (record) => (await reconcileSlug(store, client, record.slug)) ?? record),
  );
  return json(200, { slugs });
}

async function getSlug(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const slug = request.params.slug;
  const record =
    validateSlug(slug).length === 0
      ? await reconcileSlug(OperationStore.fromEnv(), df.getClient(context), slug)
      : undefined;
  return record ? json(200, record) : apiError(404, "SlugNotFound", `Shire knows no slug '${slug}'.`);
}

const durable = { extraInputs: [df.input.durableClient()] };
app.http("installSlug", {
  route: "slugs/{slug}/install",
  methods: ["POST"],
  authLevel: "anonymous",
  ...durable,
  handler: withErrors(installSlug),
});
app.http("teardownSlug", {
  route: "slugs/{slug}/teardown",
  methods: ["POST"],
  authLevel: "anonymous",
  ...durable,
  handler: withErrors(teardownSlug),
});
app.http("cancelTeardown", {
  route: "slugs/{slug}/teardown/cancel",
  methods: ["POST"],
  authLevel: "anonymous",
  ...durable,
  handler: withErrors(cancelTeardown),
});
app.http("listSlugs", {
  route: "slugs",
  methods: ["GET"],
  authLevel: "anonymous",
  ...durable,
  handler: withErrors(listSlugs),
});
app.http("getSlug", {
  route: "slugs/{slug}",
  methods: ["GET"],
  authLevel: "anonymous",
  ...durable,
  handler: withErrors(getSlug),
});
