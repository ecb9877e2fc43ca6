/**
 * Requests no route takes, answered in the API's error shape: 405 when the path is one of the
 * API's routes with another method (the `Allow` header lists the right ones), 404 otherwise. A
 * catch-all route is tried only after every more specific route template (ASP.NET route
 * precedence, as the Functions host routes), so it never shadows a real route. The routes are the
 * ones registered through `apiRoute` (src/api/route.ts).
 */
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { apiError } from "./responses";
import { API_ROUTES, matchesRoute } from "./route";

export function fallbackResponse(method: string, path: string): HttpResponseInit {
  const relative = path
    .replace(/^\/+/, "")
    .replace(/^api\//, "")
    .replace(/\/+$/, "");
  const methods = [
    ...new Set(API_ROUTES.filter((route) => matchesRoute(route.route, relative)).flatMap((route) => route.methods)),
  ];
  if (methods.length > 0 && !methods.includes(method.toUpperCase() as never)) {
    const response = apiError(
      405,
      "MethodNotAllowed",
      `${method.toUpperCase()} is not allowed on /api/${relative}; use ${methods.join(" or ")}.`,
    );
    return { ...response, headers: { ...(response.headers as Record<string, string>), allow: methods.join(", ") } };
  }
  return apiError(404, "NotFound", `No route /api/${relative}: see docs/api.md for the API's routes.`);
}

async function fallback(request: HttpRequest): Promise<HttpResponseInit> {
  return fallbackResponse(request.method, new URL(request.url).pathname);
}

app.http("fallback", {
  route: "{*path}",
  methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
  authLevel: "anonymous",
  handler: fallback,
});
