/** The caller of a request, from its bearer token (SandboxCredential's unsigned JWT). */
import type { SandboxRequest } from "./types";

export interface Caller {
  oid: string;
  tid: string;
}

export function decodeCaller(request: Pick<SandboxRequest, "headers">): Caller | undefined {
  const header = request.headers.authorization;
  const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) return undefined;
  const [, payload] = match[1].split(".");
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { oid?: string; tid?: string };
    if (!claims.oid || !claims.tid) return undefined;
    return { oid: claims.oid.toLowerCase(), tid: claims.tid };
  } catch {
    return undefined;
  }
}
