/** Responses in the API's one shape (`{error: {code, message, details?}}`), the caller, the body. */
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { isBrokerError } from "../errors";

export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers };
}

export function apiError(status: number, code: string, message: string, details?: unknown): HttpResponseInit {
  const body: ApiErrorBody = { error: { code, message, ...(details !== undefined ? { details } : {}) } };
  return json(status, body);
}

/**
 * The largest request body the API reads. An install body with the most allowed identities
 * (MAX_ALLOWED_IDENTITIES GUIDs) and tags fits in well under it; anything larger is refused with
 * 413 before it is parsed.
 */
export const MAX_BODY_BYTES = 256 * 1024;

/** Parse a JSON body: empty is `undefined`, too large is a 413, malformed is a 400, all in the API's shape. */
export async function readJson(
  request: HttpRequest,
): Promise<{ ok: true; value: unknown } | { ok: false; response: HttpResponseInit }> {
  const tooLarge = () => ({
    ok: false as const,
    response: apiError(413, "PayloadTooLarge", `The request body is larger than ${MAX_BODY_BYTES} bytes.`),
  });
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return tooLarge();
  const body = Buffer.from(await request.arrayBuffer());
  if (body.length > MAX_BODY_BYTES) return tooLarge();
  const text = body.toString("utf8");
  if (!text.trim()) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return {
      ok: false,
      response: apiError(400, "InvalidJson", `The request body is not valid JSON: ${(error as Error).message}`),
    };
  }
}

export function origin(request: HttpRequest): string {
  const url = new URL(request.url);
  return `${url.protocol}//${url.host}`;
}

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Every route answers in the error shape, never with the host's bare 500: a BrokerError carries
 * its own status and code; anything else is an InternalError (messages never contain secrets:
 * the only configuration read here is endpoints and ids).
 */
export function withErrors(handler: Handler): Handler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (error) {
      if (isBrokerError(error)) return apiError(error.statusCode ?? 500, error.code, error.message, error.details);
      context.error(
        `${request.method} ${new URL(request.url).pathname} failed: ${(error as Error)?.stack ?? String(error)}`,
      );
      return apiError(500, "InternalError", `The request failed: ${(error as Error)?.message ?? String(error)}`);
    }
  };
}
