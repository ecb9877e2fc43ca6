/**
 * Graph's OData query options on directory collections: `$filter` (eq, startswith, any; `and`),
 * only on the properties the type supports; `$select` (case-insensitive, known properties only);
 * `$top` (1..999) and server-driven paging (100 by default, `@odata.nextLink`); `$count`, which
 * on directory objects needs `ConsistencyLevel: eventual`.
 */
import type { SandboxRequest } from "../types";
import { badRequest, DIRECTORY_TYPE, knownProperties, ODATA_TYPE, TYPES, type Kind } from "./model";

type Predicate = (item: Record<string, unknown>) => boolean;

const unsupported = (kind: Kind, property: string) =>
  badRequest(
    `Unsupported or invalid query filter clause specified for property '${property}' of resource '${DIRECTORY_TYPE[kind]}'.`,
    "Request_UnsupportedQuery",
  );

function literal(raw: string): unknown {
  if (raw === "true" || raw === "false") return raw === "true";
  if (raw === "null") return null;
  const quoted = /^'((?:[^']|'')*)'$/.exec(raw);
  if (quoted) return quoted[1].replace(/''/g, "'");
  if (/^[0-9a-f-]{36}$/i.test(raw) || /^-?\d+(\.\d+)?$/.test(raw)) return raw;
  return undefined;
}

const same = (a: unknown, b: unknown) =>
  typeof a === "string" && typeof b === "string" ? a.toLowerCase() === b.toLowerCase() : a === b;

function clause(kind: Kind, text: string, filter: string): Predicate {
  const filterable = TYPES[kind].filterable;
  const check = (property: string) => {
    const known = filterable.find((name) => name.toLowerCase() === property.toLowerCase());
    if (!known) throw unsupported(kind, property);
    return known;
  };
  let match = /^(\w+)\s+(eq|ne)\s+(.+)$/i.exec(text);
  if (match) {
    const property = check(match[1]);
    const value = literal(match[3].trim());
    if (value === undefined) throw badRequest(`Invalid filter clause: '${filter}'.`);
    const negate = match[2].toLowerCase() === "ne";
    return (item) => same(item[property] ?? null, value) !== negate;
  }
  match = /^startswith\(\s*(\w+)\s*,\s*('(?:[^']|'')*')\s*\)$/i.exec(text);
  if (match) {
    const property = check(match[1]);
    const prefix = String(literal(match[2])).toLowerCase();
    return (item) => typeof item[property] === "string" && (item[property] as string).toLowerCase().startsWith(prefix);
  }
  match = /^(\w+)\/any\(\s*(\w+)\s*:\s*\2\s+eq\s+('(?:[^']|'')*')\s*\)$/i.exec(text);
  if (match) {
    const property = check(match[1]);
    const value = literal(match[3]);
    return (item) => Array.isArray(item[property]) && (item[property] as unknown[]).some((entry) => same(entry, value));
  }
  throw badRequest(`Invalid filter clause: '${filter}'.`, "Request_UnsupportedQuery");
}

export function filterPredicate(kind: Kind, filter: string | null): Predicate {
  if (!filter || !filter.trim()) return () => true;
  const parts = filter.split(/\s+and\s+/i).map((part) => clause(kind, part.trim(), filter));
  return (item) => parts.every((part) => part(item));
}

/** `$select` applied to an object view (`@odata.type` kept); unknown names are refused. */
export function selectFields(
  kind: Kind,
  select: string | null,
): ((view: Record<string, unknown>) => Record<string, unknown>) | undefined {
  if (!select) return undefined;
  const known = knownProperties(kind);
  const fields = select
    .split(",")
    .map((field) => field.trim())
    .filter(Boolean)
    .map((field) => {
      const found = known.find((name) => name.toLowerCase() === field.toLowerCase());
      if (!found)
        throw badRequest(`Could not find a property named '${field}' on type '${ODATA_TYPE[kind].slice(1)}'.`);
      return found;
    });
  return (view) =>
    Object.fromEntries(Object.entries(view).filter(([key]) => fields.includes(key) || key === "@odata.type"));
}

export function requireEventualConsistencyForCount(request: SandboxRequest): void {
  if (String(request.headers.consistencylevel ?? "").toLowerCase() !== "eventual")
    throw badRequest("$count is not currently supported.");
}

/** One page of a collection, with `@odata.nextLink` when more remain (the Graph client's PageIterator follows it). */
export function page<T>(items: T[], request: SandboxRequest, contextName: string): Record<string, unknown> {
  const topRaw = request.query.get("$top");
  const top = topRaw === null ? 100 : Number(topRaw);
  if (!Number.isInteger(top) || top < 1 || top > 999)
    throw badRequest(`Invalid page size specified: '${topRaw}'. Must be between 1 and 999 inclusive.`);
  const token = request.query.get("$skiptoken");
  let skip = 0;
  if (token) {
    skip = Number(
      Buffer.from(token, "base64url")
        .toString("utf8")
        .replace(/^skip:/, ""),
    );
    if (!Number.isInteger(skip) || skip < 0) throw badRequest("The $skiptoken is not valid.");
  }
  const count = request.query.get("$count");
  if (count === "true") requireEventualConsistencyForCount(request);
  const body: Record<string, unknown> = { "@odata.context": `${request.baseUrl}/v1.0/$metadata#${contextName}` };
  if (count === "true") body["@odata.count"] = items.length;
  body.value = items.slice(skip, skip + top);
  if (skip + top < items.length) {
    const next = new URLSearchParams(request.query);
    next.set("$skiptoken", Buffer.from(`skip:${skip + top}`).toString("base64url"));
    body["@odata.nextLink"] = `${request.baseUrl}${request.path}?${next.toString()}`;
  }
  return body;
}
