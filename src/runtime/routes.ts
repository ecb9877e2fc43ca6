/**
 * HTTP trigger route templates as the Functions host (ASP.NET Core routing) reads them: literal
 * segments (case-insensitive), `{name}`, optional `{name?}`, defaults `{name=value}`, catch-all
 * `{*rest}`, and inline constraints, chained and with arguments: `{id:int}`, `{code:length(5)}`,
 * `{n:int:min(1)}`, `{slug:regex(^[a-z-]+$)}`. Routes are tried in ASP.NET's inbound precedence,
 * compared segment by segment (RoutePrecedence.ComputeInbound).
 */
export interface CompiledRoute {
  template: string;
  /** ASP.NET precedence digits, one per segment; lower sorts first. */
  precedence: number[];
  match(path: string): Record<string, string> | undefined;
}

type Constraint = (value: string) => boolean;

interface Segment {
  literal?: string;
  name?: string;
  catchAll?: boolean;
  optional?: boolean;
  defaultValue?: string;
  constraints: Constraint[];
}

const INT32 = [-(2 ** 31), 2 ** 31 - 1];
const GUID =
  /^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\))$/i;

function integer(value: string): bigint | undefined {
  return /^\s*[+-]?\d+\s*$/.test(value) ? BigInt(value.trim()) : undefined;
}

function numeric(value: string): boolean {
  return value.trim().length > 0 && Number.isFinite(Number(value));
}

/** ASP.NET's built-in inline constraints. */
function makeConstraint(name: string, args: string[] | undefined): Constraint {
  const n = (index: number) => {
    const parsed = Number(args?.[index]);
    if (!Number.isFinite(parsed)) throw new Error(`Route constraint '${name}' needs numeric arguments.`);
    return parsed;
  };
  switch (name.toLowerCase()) {
    case "int":
      return (value) => {
        const parsed = integer(value);
        return parsed !== undefined && parsed >= BigInt(INT32[0]) && parsed <= BigInt(INT32[1]);
      };
    case "long":
      return (value) => {
        const parsed = integer(value);
        return parsed !== undefined && parsed >= -(2n ** 63n) && parsed <= 2n ** 63n - 1n;
      };
    case "bool":
      return (value) => /^\s*(true|false)\s*$/i.test(value);
    case "datetime":
      return (value) => !Number.isNaN(Date.parse(value));
    case "decimal":
    case "double":
    case "float":
      return numeric;
    case "guid":
      return (value) => GUID.test(value);
    case "alpha":
      return (value) => /^[a-z]*$/i.test(value);
    case "required":
      return (value) => value.length > 0;
    case "minlength":
      return (value) => value.length >= n(0);
    case "maxlength":
      return (value) => value.length <= n(0);
    case "length":
      return args && args.length > 1
        ? (value) => value.length >= n(0) && value.length <= n(1)
        : (value) => value.length === n(0);
    case "min":
      return (value) => integer(value) !== undefined && Number(value) >= n(0);
    case "max":
      return (value) => integer(value) !== undefined && Number(value) <= n(0);
    case "range":
      return (value) => integer(value) !== undefined && Number(value) >= n(0) && Number(value) <= n(1);
    case "regex": {
      // Not anchored for you, as in ASP.NET; case-insensitive and culture-invariant.
      const pattern = new RegExp(args?.join(",") ?? "", "i");
      return (value) => pattern.test(value);
    }
    default:
      throw new Error(`Unknown route constraint '${name}'.`);
  }
}

/** `{*name:c1:c2(args)=default}` or `{name?}`: the inside of one parameter segment. */
function parseParameter(inner: string): Segment {
  let text = inner;
  const segment: Segment = { constraints: [] };
  if (text.startsWith("**")) {
    segment.catchAll = true;
    text = text.slice(2);
  } else if (text.startsWith("*")) {
    segment.catchAll = true;
    text = text.slice(1);
  }
  const nameMatch = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text);
  if (!nameMatch) throw new Error(`Invalid route parameter '{${inner}}'.`);
  segment.name = nameMatch[0];
  let at = nameMatch[0].length;
  while (text[at] === ":") {
    const constraintName = /^[A-Za-z]+/.exec(text.slice(at + 1));
    if (!constraintName) throw new Error(`Invalid route constraint in '{${inner}}'.`);
    at += 1 + constraintName[0].length;
    let args: string[] | undefined;
    if (text[at] === "(") {
      // Arguments run to the matching parenthesis (a regex may contain parentheses).
      let depth = 0;
      let end = at;
      for (; end < text.length; end++) {
        if (text[end] === "(") depth++;
        else if (text[end] === ")" && --depth === 0) break;
      }
      const raw = text.slice(at + 1, end);
      args = constraintName[0].toLowerCase() === "regex" ? [raw] : raw.split(",").map((arg) => arg.trim());
      at = end + 1;
    }
    segment.constraints.push(makeConstraint(constraintName[0], args));
  }
  const rest = text.slice(at);
  if (rest === "?") segment.optional = true;
  else if (rest.startsWith("=")) segment.defaultValue = rest.slice(1);
  else if (rest !== "") throw new Error(`Invalid route parameter '{${inner}}'.`);
  return segment;
}

/** Kestrel leaves %2F encoded in the path, so a route value keeps it; everything else is decoded. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment.replace(/%2f/gi, "%252F"));
  } catch {
    return segment;
  }
}

export function compileRoute(template: string): CompiledRoute {
  const segments: Segment[] = template
    .replace(/^\/+|\/+$/g, "")
    .split("/")
    .filter(Boolean)
    .map((part) => (/^\{.*\}$/.test(part) ? parseParameter(part.slice(1, -1)) : { literal: part, constraints: [] }));
  const precedence = segments.map((segment) => {
    if (segment.literal !== undefined) return 1;
    const digit = segment.catchAll ? 5 : 3;
    return segment.constraints.length > 0 ? digit - 1 : digit;
  });
  return {
    template,
    precedence,
    match(path: string) {
      const parts = path
        .replace(/^\/+|\/+$/g, "")
        .split("/")
        .filter(Boolean);
      const params: Record<string, string> = {};
      let index = 0;
      for (const segment of segments) {
        if (segment.literal !== undefined) {
          if (parts[index] === undefined || decodeSegment(parts[index]).toLowerCase() !== segment.literal.toLowerCase())
            return undefined;
          index++;
          continue;
        }
        const name = segment.name!;
        if (segment.catchAll) {
          const rest = parts.slice(index).map(decodeSegment).join("/");
          index = parts.length;
          const value = rest.length > 0 ? rest : segment.defaultValue;
          if (value === undefined) continue;
          if (!segment.constraints.every((check) => check(value))) return undefined;
          params[name] = value;
          continue;
        }
        const raw = parts[index];
        if (raw === undefined) {
          if (segment.defaultValue !== undefined) params[name] = segment.defaultValue;
          else if (!segment.optional) return undefined;
          continue;
        }
        const value = decodeSegment(raw);
        if (!segment.constraints.every((check) => check(value))) return undefined;
        params[name] = value;
        index++;
      }
      return index === parts.length ? params : undefined;
    },
  };
}

/** Lower first: compare precedence digits segment by segment (ComputeInbound's decimal places). */
export function comparePrecedence(a: CompiledRoute, b: CompiledRoute): number {
  for (let i = 0; i < Math.max(a.precedence.length, b.precedence.length); i++) {
    const difference = (a.precedence[i] ?? 0) - (b.precedence[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

export type RouteSelection<T> =
  | { kind: "match"; entry: T; params: Record<string, string> }
  /** The path matches routes, none of them for this method: the methods they take. */
  | { kind: "method"; allowed: string[] }
  | { kind: "none" };

/**
 * The host's route table: entries sorted by inbound precedence (registration order breaks ties),
 * so a catch-all is tried only after every more specific template, wherever it was registered.
 * A route's methods are a constraint of the route, as HttpMethodRouteConstraint is for the
 * Functions host: a route that matches the path but not the method does not match, and the next
 * route (a catch-all, say) is tried.
 */
export class RouteTable<T extends { route: CompiledRoute; methods: string[] }> {
  private readonly entries: { entry: T; order: number }[] = [];

  add(entry: T): void {
    this.entries.push({ entry, order: this.entries.length });
    this.entries.sort((a, b) => comparePrecedence(a.entry.route, b.entry.route) || a.order - b.order);
  }

  get all(): T[] {
    return this.entries.map(({ entry }) => entry);
  }

  select(path: string, method: string): RouteSelection<T> {
    const allowed = new Set<string>();
    for (const { entry } of this.entries) {
      const params = entry.route.match(path);
      if (!params) continue;
      if (entry.methods.includes(method)) return { kind: "match", entry, params };
      for (const other of entry.methods) allowed.add(other);
    }
    return allowed.size > 0 ? { kind: "method", allowed: [...allowed] } : { kind: "none" };
  }
}
