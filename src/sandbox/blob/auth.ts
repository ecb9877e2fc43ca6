/**
 * How the blob service authenticates a request: a bearer token (Entra; the operation is then
 * authorized by RBAC) or Shared Key (the account key signs the request; full access unless the
 * account disallows key access). Errors in Storage's shape, with `AuthenticationErrorDetail`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { SandboxEnvironment } from "../service";
import { SandboxHttpError, type SandboxRequest } from "../types";
import { validateToken, type Caller } from "../auth";
import { SANDBOX_DNS_SUFFIX } from "../../azure/endpoints";

export type BlobCaller = { kind: "entra"; caller: Caller } | { kind: "sharedKey" };

const NOT_FORMED =
  "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

function authFailure(
  status: number,
  code: string,
  message: string,
  detail: string,
  headers: Record<string, string> = {},
): SandboxHttpError {
  return new SandboxHttpError(status, code, message, headers, { authenticationErrorDetail: detail });
}

export function authenticateBlob(
  request: SandboxRequest,
  env: SandboxEnvironment,
  account: { name: string; keys: { key1: string; key2: string }; allowSharedKeyAccess: boolean },
): BlobCaller {
  const header = String(request.headers.authorization ?? "");
  const challenge = {
    "www-authenticate": `Bearer authorization_uri=https://login.${SANDBOX_DNS_SUFFIX}:${env.port}/${env.tenantId}/oauth2/authorize resource_id=https://storage.azure.com`,
  };
  if (!header)
    throw new SandboxHttpError(
      401,
      "NoAuthenticationInformation",
      "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
      challenge,
    );
  if (/^SharedKey\s/i.test(header)) return authenticateSharedKey(request, account, header);
  // Storage accepts its global audience and the account's own endpoint.
  const accountAudience = `https://${account.name}.blob.${SANDBOX_DNS_SUFFIX}`;
  const check = validateToken(request, env, {
    audiences: ["https://storage.azure.com", "https://storage.azure.com/", accountAudience, `${accountAudience}/`],
    tenantId: env.tenantId,
  });
  if (check.ok) return { kind: "entra", caller: check.caller };
  const refer =
    "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.";
  switch (check.problem.reason) {
    case "missing":
    case "malformed":
      throw authFailure(
        400,
        "InvalidAuthenticationInfo",
        "Authentication information is not given in the correct format. Check the value of Authorization header.",
        "The token is not a well formed JWT.",
      );
    case "audience":
      throw authFailure(
        401,
        "InvalidAuthenticationInfo",
        refer,
        "Audience validation failed. Audience did not match.",
        challenge,
      );
    case "signature":
      throw authFailure(
        401,
        "InvalidAuthenticationInfo",
        refer,
        "Signature validation failed. Signature is invalid.",
        challenge,
      );
    case "issuer":
      throw authFailure(403, "AuthenticationFailed", NOT_FORMED, "Issuer validation failed. Issuer did not match.");
    case "expired":
      throw authFailure(403, "AuthenticationFailed", NOT_FORMED, "Lifetime validation failed. The token is expired.");
    case "notYetValid":
      throw authFailure(
        403,
        "AuthenticationFailed",
        NOT_FORMED,
        "Lifetime validation failed. The token is not yet valid.",
      );
  }
}

/** Shared Key: HMAC-SHA256 with either account key over the documented string-to-sign. */
function authenticateSharedKey(
  request: SandboxRequest,
  account: { name: string; keys: { key1: string; key2: string }; allowSharedKeyAccess: boolean },
  header: string,
): BlobCaller {
  if (!account.allowSharedKeyAccess)
    throw new SandboxHttpError(
      403,
      "KeyBasedAuthenticationNotPermitted",
      "Key based authentication is not permitted on this storage account.",
    );
  const match = /^SharedKey\s+([^:\s]+):(\S+)$/i.exec(header.trim());
  if (!match || match[1] !== account.name)
    throw authFailure(
      403,
      "AuthenticationFailed",
      NOT_FORMED,
      `The account being accessed does not match the account in the Authorization header.`,
    );
  const stringToSign = sharedKeyStringToSign(request, account.name);
  const given = Buffer.from(match[2], "base64");
  for (const key of [account.keys.key1, account.keys.key2]) {
    const computed = createHmac("sha256", Buffer.from(key, "base64")).update(stringToSign, "utf8").digest();
    if (computed.length === given.length && timingSafeEqual(computed, given)) return { kind: "sharedKey" };
  }
  throw authFailure(
    403,
    "AuthenticationFailed",
    NOT_FORMED,
    `The MAC signature found in the HTTP request '${match[2]}' is not the same as any computed signature. Server used following string to sign: '${stringToSign.replace(/\n/g, "\\n")}'.`,
  );
}

function sharedKeyStringToSign(request: SandboxRequest, accountName: string): string {
  const header = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(",") : (value ?? "");
  };
  // Content-Length is empty when zero (versions 2015-02-21 and later).
  const length = header("content-length") === "0" ? "" : header("content-length");
  const standard = [
    request.method,
    header("content-encoding"),
    header("content-language"),
    length,
    header("content-md5"),
    header("content-type"),
    header("date"),
    header("if-modified-since"),
    header("if-match"),
    header("if-none-match"),
    header("if-unmodified-since"),
    header("range"),
  ];
  const canonicalHeaders = Object.keys(request.headers)
    .filter((name) => name.toLowerCase().startsWith("x-ms-"))
    .map((name) => name.toLowerCase())
    .sort()
    .map((name) => `${name}:${header(name).replace(/\s+/g, " ").trim()}\n`)
    .join("");
  // `path` is the URL's pathname as sent (still percent-encoded), which is what the client signed.
  const rawPath = request.path;
  const params = new Map<string, string[]>();
  for (const [key, value] of request.query)
    params.set(key.toLowerCase(), [...(params.get(key.toLowerCase()) ?? []), value]);
  const canonicalQuery = [...params.keys()]
    .sort()
    .map((key) => `\n${key}:${params.get(key)!.sort().join(",")}`)
    .join("");
  return `${standard.join("\n")}\n${canonicalHeaders}/${accountName}${rawPath}${canonicalQuery}`;
}
