/** Error and JSON responses in the API's one shape: `{error: {code, message, details?}}`. */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers };
}

export function apiError(status: number, code: string, message: string, details?: unknown): HttpResponseInit {
  return json(status, { error: { code, message, ...(details !== undefined ? { details } : {}) } });
}

/** Who is calling: Easy Auth's principal headers in Azure, "local" on the local host. */
export function actorOf(request: HttpRequest): string {
  return request.headers.get("x-ms-client-principal-name") ?? request.headers.get("x-ms-client-principal-id") ?? "local";
}

/** Parse a JSON body; empty is undefined; malformed is an error response. */
export async function readJson(request: HttpRequest): Promise<{ ok: true; value: unknown } | { ok: false; response: HttpResponseInit }> {
  const text = await request.text();
  if (!text.trim()) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, response: apiError(400, "InvalidJson", `The request body is not valid JSON: ${(error as Error).message}`) };
  }
}

export function origin(request: HttpRequest): string {
  const url = new URL(request.url);
  return `${url.protocol}//${url.host}`;
}
