/**
 * Writing a function's HTTP response as the Functions host does: the worker's RpcHttp
 * (status, headers, body, cookies) becomes the ASP.NET Core response. Cookies go through
 * CookieOptions (RpcHttpCookieConverter), so they come out as ASP.NET's Set-Cookie writes them:
 * `name=value; expires=...; max-age=...; domain=...; path=/; secure; samesite=...; httponly`,
 * value URL-escaped, path "/" unless given.
 */
import type http from "node:http";
import type { RpcHttpData, RpcTypedData } from "./worker/core-api";

interface RpcCookie {
  name?: string;
  value?: string;
  domain?: { value?: string };
  path?: { value?: string };
  expires?: { value?: { seconds?: number | string } };
  secure?: { value?: boolean };
  httpOnly?: { value?: boolean };
  sameSite?: string;
  maxAge?: { value?: number };
}

/** RpcSameSiteEnumConverter: 'none' is Unspecified (no attribute), 'explicitNone' is SameSite=None. */
function sameSiteAttribute(sameSite: string | undefined): string | undefined {
  switch (sameSite) {
    case "strict":
      return "samesite=strict";
    case "lax":
      return "samesite=lax";
    case "explicitNone":
      return "samesite=none";
    default:
      return undefined;
  }
}

/** Uri.EscapeDataString, as ResponseCookies.Append applies to the value. */
function escapeDataString(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function setCookieHeader(cookie: RpcCookie): string {
  const parts = [`${cookie.name ?? ""}=${escapeDataString(cookie.value ?? "")}`];
  const expires = cookie.expires?.value?.seconds;
  if (expires !== undefined) parts.push(`expires=${new Date(Number(expires) * 1000).toUTCString()}`);
  if (cookie.maxAge?.value !== undefined) parts.push(`max-age=${Math.trunc(cookie.maxAge.value)}`);
  if (cookie.domain?.value !== undefined) parts.push(`domain=${cookie.domain.value}`);
  parts.push(`path=${cookie.path?.value ?? "/"}`);
  if (cookie.secure?.value) parts.push("secure");
  const sameSite = sameSiteAttribute(cookie.sameSite);
  if (sameSite) parts.push(sameSite);
  if (cookie.httpOnly?.value) parts.push("httponly");
  return parts.join("; ");
}

export function typedDataToBuffer(data: RpcTypedData | undefined): Buffer {
  if (!data) return Buffer.alloc(0);
  if (data.bytes !== undefined) {
    const bytes = data.bytes as Uint8Array | Record<string, number>;
    return bytes instanceof Uint8Array ? Buffer.from(bytes) : Buffer.from(Object.values(bytes));
  }
  if (data.string !== undefined) return Buffer.from(data.string);
  if (data.json !== undefined) return Buffer.from(data.json);
  return Buffer.alloc(0);
}

export function writeHttpResponse(res: http.ServerResponse, output: RpcHttpData | undefined): void {
  if (!output) {
    res.writeHead(204).end();
    return;
  }
  const status = Number(output.statusCode ?? 200);
  const headers = (output.headers ?? {}) as Record<string, string>;
  const cookies = ((output.cookies as RpcCookie[] | undefined) ?? []).map(setCookieHeader);
  const outHeaders: http.OutgoingHttpHeaders = { ...headers };
  if (cookies.length > 0) outHeaders["set-cookie"] = cookies;
  res.writeHead(status, outHeaders);
  res.end(typedDataToBuffer(output.body as RpcTypedData | undefined));
}

/**
 * The host's own answers (a request no function gets: bad request, no route, wrong method, a
 * failure outside the function) in the API's error shape, `{"error":{"code","message"}}`.
 */
export function hostErrorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

export function writeHostError(
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: http.OutgoingHttpHeaders = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = hostErrorBody(code, message);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}
