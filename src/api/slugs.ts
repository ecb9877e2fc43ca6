/**
 * Slug routes: install and teardown (through the operation pipeline), list, get. Invalid input
 * gets 400 listing every problem, and nothing is written anywhere.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { validateSlug } from "../model/validate";
import { OperationStore } from "../operations/records";
import { apiError, json } from "./responses";
import { apiRoute } from "./route";
import { operationRoute } from "./pipeline";
import { installOperation } from "./install";
import { cancelTeardown, teardownSlug } from "./teardown";
import { reconcileSlug } from "./reconcile";

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
  if (!record) return apiError(404, "SlugNotFound", `Shire knows no slug '${slug}'.`);
  // Per secret: version, when rotated, next due, last result (src/operations/rotation-record.ts).
  const rotation = await OperationStore.fromEnv().getRotation(slug);
  return json(200, rotation ? { ...record, rotation } : record);
}

apiRoute({
  name: "installSlug",
  route: "slugs/{slug}/install",
  methods: ["POST"],
  role: "Shire.Operator",
  durable: true,
  handler: operationRoute(installOperation),
});
apiRoute({
  name: "teardownSlug",
  route: "slugs/{slug}/teardown",
  methods: ["POST"],
  role: "Shire.Admin",
  durable: true,
  handler: teardownSlug,
});
apiRoute({
  name: "cancelTeardown",
  route: "slugs/{slug}/teardown/cancel",
  methods: ["POST"],
  role: "Shire.Admin",
  durable: true,
  handler: (request, context, principal) => cancelTeardown(request, context, principal),
});
apiRoute({
  name: "listSlugs",
  route: "slugs",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: listSlugs,
});
apiRoute({
  name: "getSlug",
  route: "slugs/{slug}",
  methods: ["GET"],
  role: "Shire.Reader",
  durable: true,
  handler: getSlug,
});
