/**
 * Every API route is registered here, with the role it needs: one list the authorization, the
 * 404/405 answers and the docs' route table read. A handler runs only for a caller holding the
 * role (401 without a principal, 403 without the role, both in the API's error shape) and gets
 * the principal; anything it throws becomes an error in that shape too (`withErrors`).
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { hasRole, principalOf, type Principal, type Role } from "./auth";
import { apiError, withErrors } from "./responses";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiRoute {
  name: string;
  /** Under /api, in Functions route syntax: `slugs/{slug}/install`. */
  route: string;
  methods: Method[];
  role: Role;
}

export type RouteHandler = (
  request: HttpRequest,
  context: InvocationContext,
  principal: Principal,
) => Promise<HttpResponseInit>;

/** Every route registered so far (the app's modules register theirs when imported). */
export const API_ROUTES: ApiRoute[] = [];

export function apiRoute(definition: ApiRoute & { durable?: boolean; handler: RouteHandler }): void {
  const { handler, durable, ...route } = definition;
  API_ROUTES.push(route);
  app.http(route.name, {
    route: route.route,
    methods: route.methods,
    authLevel: "anonymous",
    ...(durable ? { extraInputs: [df.input.durableClient()] } : {}),
    handler: withErrors(async (request, context) => {
      const who = principalOf(request);
      if (!who.ok) return apiError(who.status, who.code, who.message);
      if (!hasRole(who.principal, route.role)) {
        return apiError(
          403,
          "Forbidden",
          `${route.methods.join("/")} /api/${route.route} needs the app role ${route.role}; ${who.principal.name} has ${who.principal.roles.join(", ") || "none"}.`,
          {
            required: route.role,
          },
        );
      }
      return handler(request, context, who.principal);
    }),
  });
}

/** Does a path (under /api) match a route template? `{name}` is one segment, `{*name}` the rest. */
export function matchesRoute(template: string, path: string): boolean {
  const pattern = template
    .split("/")
    .map((segment) =>
      /^\{\*.+\}$/.test(segment)
        ? ".*"
        : /^\{.+\}$/.test(segment)
          ? "[^/]+"
          : segment.replace(/[.*+?^$()|[\]\\]/g, "\\$&"),
    )
    .join("/");
  return new RegExp(`^${pattern}$`).test(path);
}
