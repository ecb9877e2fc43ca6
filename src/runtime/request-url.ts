/**
 * The URL a request was made to, from its request target and Host header, checked as Kestrel
 * checks it before the Functions host sees the request (HttpUtilities.IsHostHeaderValid and
 * EnsureHostHeaderExists). A request Kestrel would refuse gets an error to answer with 400,
 * never an exception: a client cannot stop the host with a bad header.
 */
import type http from "node:http";

/** reg-name / IPv4 (unreserved and sub-delims), or an IPv6 literal; then an optional port. */
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]+|\[[0-9A-Fa-f:.]+\])(?::\d{0,5})?$/;
/** A DNS name is at most 253 characters (RFC 1035); anything longer names nothing. */
const MAX_HOST_NAME = 253;

export type RequestUrl = { url: URL } | { error: string };

export function requestUrl(req: http.IncomingMessage): RequestUrl {
  const hosts = req.headersDistinct.host ?? [];
  if (hosts.length > 1) return { error: "The request has more than one Host header." };
  let host = hosts[0];
  if (host === undefined) {
    // HTTP/1.0 may omit it (Kestrel then has no host either); HTTP/1.1 must send it.
    if (req.httpVersion !== "1.0") return { error: "The request has no Host header." };
    host = "127.0.0.1";
  }
  const name = host.replace(/:\d*$/, "");
  if (!HOST.test(host) || name.length > MAX_HOST_NAME)
    return { error: `Invalid Host header: '${host.length > 100 ? `${host.slice(0, 100)}...` : host}'.` };

  const target = req.url ?? "/";
  let pathAndQuery: string;
  if (target.startsWith("/")) pathAndQuery = target;
  else {
    // Absolute form (a proxy's request): only its path and query are the request's.
    try {
      const absolute = new URL(target);
      pathAndQuery = `${absolute.pathname}${absolute.search}`;
    } catch {
      return { error: `Invalid request target: '${target}'.` };
    }
  }
  try {
    // Concatenated, not resolved: a path starting with "//" is a path, not an authority.
    return { url: new URL(`http://${host}${pathAndQuery}`) };
  } catch {
    return { error: `Invalid Host header: '${host}'.` };
  }
}
