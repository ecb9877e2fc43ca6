/**
 * Requests no route takes, answered in the API's error shape: 405 when the path is one of the
 * API's with another method (the `Allow` header lists the right ones), 404 otherwise. A catch-all
 * route is tried only after every more specific route template (ASP.NET route precedence, as the
 * Functions host routes), so it never shadows a real route.
 */
import { app, type HttpRequest, type HttpResponseInit } from "@azure/functions";
import { apiError } from "./responses";

/** The API's routes and their methods (the catch-all answers for everything else). */
const ROUTES: { pattern: RegExp; methods: string[] }[] = [
  { pattern: /^slugs$/, methods: ["GET"] },
  { pattern: /^slugs\/[^/]+$/, methods: ["GET"] },
  { pattern: /^slugs\/[^/]+\/install$/, methods: ["POST"] },
  { pattern: /^slugs\/[^/]+\/plan$/, methods: ["GET", "POST"] },
  { pattern: /^slugs\/[^/]+\/teardown$/, methods: ["POST"] },
  { pattern: /^slugs\/[^/]+\/teardown\/cancel$/, methods: ["POST"] },
  { pattern: /^operations$/, methods: ["GET"] },
  { pattern: /^operations\/[^/]+$/, methods: ["GET"] },
  { pattern: /^operations\/[^/]+\/cancel$/, methods: ["POST"] },
];

export function fallbackResponse(method: string, path: string): HttpResponseInit {
  const relative = path
    .replace(/^\/+/, "")
    .replace(/^api\//, "")
    .replace(/\/+$/, "");
  const route = ROUTES.find((candidate) => candidate.pattern.test(relative));
  if (route && !route.methods.includes(method.toUpperCase())) {
    const response = apiError(
      405,
      "MethodNotAllowed",
      `${method.toUpperCase()} is not allowed on /api/${relative}; use ${route.methods.join(" or ")}.`,
    );
    return {
      ...response,
      headers: { ...(response.headers as Record<string, string>), allow: route.methods.join(", ") },
    };
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
