/** What every Graph handler works with: the store, the permission model, the authenticated caller. */
import type { SandboxEnvironment } from "../service";
import type { SandboxHttpError, SandboxRequest, SandboxResponse } from "../types";
import type { GraphPermissions } from "./permissions";
import { notFound, type DirectoryObject, type GraphStore } from "./store";
import { badRequest, COLLECTION, type Kind } from "./model";
import { filterPredicate, page, selectFields } from "./query";

/** How a request names an object: by id (`/applications/{id}`) or alternate key (`/applications(appId='...')`). */
export type ObjectRef = { id: string } | { key: string; value: string };

/** Alternate keys Graph supports per kind. */
const ALTERNATE_KEYS: Partial<Record<Kind, string[]>> = {
  application: ["appId", "uniqueName"],
  servicePrincipal: ["appId"],
  group: ["uniqueName"],
  user: ["userPrincipalName"],
};

/** The sandbox tenant's verified domain (identifier URIs on it are allowed). */
export const TENANT_DOMAIN = "shiresandbox.onmicrosoft.com";

export interface GraphContext {
  env: SandboxEnvironment;
  store: GraphStore;
  permissions: GraphPermissions;
}

export interface GraphCall {
  request: SandboxRequest;
  /** Object id of the authenticated caller. */
  caller: string;
  /** Object references captured by the route, in order. */
  refs: ObjectRef[];
  /** Literal segments captured by the route (`{credentialId}`, `microsoft.graph.application`...). */
  names: string[];
}

export type GraphHandler = (call: GraphCall) => SandboxResponse;

export function body(request: SandboxRequest): Record<string, unknown> {
  const value = request.body;
  if (value !== undefined && (value === null || typeof value !== "object" || Array.isArray(value)))
    throw badRequest("The request body must be a JSON object.");
  return (value ?? {}) as Record<string, unknown>;
}

export function resolve(context: GraphContext, kind: Kind, ref: ObjectRef): DirectoryObject {
  if ("id" in ref) return context.store.find(kind, ref.id);
  const key = ALTERNATE_KEYS[kind]?.find((name) => name.toLowerCase() === ref.key.toLowerCase());
  if (!key) throw badRequest(`The alternate key '${ref.key}' is not defined for '${COLLECTION[kind]}'.`);
  const found = context.store
    .list(kind)
    .find((object) => String(object.data[key] ?? "").toLowerCase() === ref.value.toLowerCase());
  if (!found) throw notFound(`${key}=${ref.value}`);
  return found;
}

/**
 * The object a write addresses, or undefined when there is none. By alternate key the lookup
 * sees objects reads cannot see yet: writes go to the tenant's primary replica, which is what
 * makes an upsert that repeats a create (or races one) update the one object.
 */
export function resolveForWrite(context: GraphContext, kind: Kind, ref: ObjectRef): DirectoryObject | undefined {
  if ("id" in ref) return context.store.find(kind, ref.id);
  const key = ALTERNATE_KEYS[kind]?.find((name) => name.toLowerCase() === ref.key.toLowerCase());
  if (!key) throw badRequest(`The alternate key '${ref.key}' is not defined for '${COLLECTION[kind]}'.`);
  return context.store
    .listForWrite(kind)
    .find((object) => String(object.data[key] ?? "").toLowerCase() === ref.value.toLowerCase());
}

/** `Prefer: create-if-missing`: a PATCH by alternate key creates the object when there is none. */
export function wantsUpsert(request: SandboxRequest): boolean {
  const prefer = request.headers.prefer;
  return (Array.isArray(prefer) ? prefer.join(",") : String(prefer ?? ""))
    .split(",")
    .some((part) => part.trim().toLowerCase() === "create-if-missing");
}

/** 404 for a PATCH by key that names nothing (without the upsert preference it is an update). */
export function missingTarget(ref: ObjectRef): SandboxHttpError {
  return notFound("id" in ref ? ref.id : `${ref.key}=${ref.value}`);
}

/** A collection response: `$filter`, `$select`, paging. */
export function collection(
  context: GraphContext,
  kind: Kind,
  request: SandboxRequest,
  objects: DirectoryObject[],
  contextName: string,
): SandboxResponse {
  const matches = filterPredicate(kind, request.query.get("$filter"));
  const select = selectFields(kind, request.query.get("$select"));
  const views = objects
    .map((object) => context.store.view(object))
    .filter(matches)
    .map((view) => (select ? select(view) : view));
  return { status: 200, body: page(views, request, contextName) };
}

/** One object's view, with `$select`. */
export function single(context: GraphContext, object: DirectoryObject, request: SandboxRequest): SandboxResponse {
  const select = selectFields(object.kind, request.query.get("$select"));
  const view = context.store.view(object);
  return {
    status: 200,
    body: {
      "@odata.context": `${request.baseUrl}/v1.0/$metadata#${COLLECTION[object.kind]}/$entity`,
      ...(select ? select(view) : view),
    },
  };
}
