import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Compare what Azure has with what the plan wants. Desired is a subset: properties Azure adds
 * (provisioningState, ids, defaults) are ignored; every property the plan sets must match.
 */

/** One difference: where, what the plan wants, what Azure has. */
export interface Difference {
  path: string;
  expected: unknown;
  actual: unknown;
}

/**
 * While a drift audit inspects a resource, every difference the kind's own compare finds is noted
 * here with its values (the kinds compare with `diffDesired`; none of them compares secret
 * values with it). Outside an audit nothing is noted.
 */
const noted = new AsyncLocalStorage<Difference[]>();

export async function notingDifferences<T>(run: () => Promise<T>): Promise<{ result: T; differences: Difference[] }> {
  const differences: Difference[] = [];
  const result = await noted.run(differences, run);
  return { result, differences };
}

/** Values as a report shows them: long ones cut. */
function shown(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text !== undefined && text.length > 300 ? `${text.slice(0, 297)}...` : value;
}

export function noteDifference(path: string, expected: unknown, actual: unknown): string[] {
  noted.getStore()?.push({ path, expected: shown(expected), actual: shown(actual) });
  return [path];
}

/** Property paths where `current` differs from `desired` (desired-subset semantics). */
export function diffDesired(current: unknown, desired: unknown, path = ""): string[] {
  if (desired === undefined) return [];
  // ARM omits (or nulls) empty lists and maps in its answers: wanting none is having none.
  if ((current === undefined || current === null) && isEmptyCollection(desired)) return [];
  if (desired === null || typeof desired !== "object") {
    return sameScalar(current, desired, path) ? [] : noteDifference(path || ".", desired, current);
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(current) || current.length !== desired.length)
      return noteDifference(path || ".", desired, current);
    return desired.flatMap((item, index) => diffDesired(current[index], item, `${path}[${index}]`));
  }
  if (current === null || typeof current !== "object" || Array.isArray(current))
    return noteDifference(path || ".", desired, current);
  const currentRecord = current as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).flatMap(([key, value]) => {
    const actualKey =
      Object.keys(currentRecord).find((candidate) => candidate.toLowerCase() === key.toLowerCase()) ?? key;
    return diffDesired(currentRecord[actualKey], value, path ? `${path}.${key}` : key);
  });
}

/**
 * ARM answers enum values in its own casing ("transport": "Auto" for "auto") and ids in another
 * casing: for a short identifier-like value, case is not a difference. (Free text, URLs, images,
 * JSON and paths keep exact comparison.)
 */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function sameScalar(current: unknown, desired: unknown, path: string): boolean {
  if (current === desired) return true;
  if (typeof current !== "string" || typeof desired !== "string") return false;
  if (IDENTIFIER.test(desired) && current.toLowerCase() === desired.toLowerCase()) return true;
  // ARM echoes resource ids with its own casing, and locations as display names ("West Europe").
  if (desired.startsWith("/subscriptions/")) return current.toLowerCase() === desired.toLowerCase();
  if (/(^|\.)location$/i.test(path)) return normalizeLocation(current) === normalizeLocation(desired);
  return false;
}

function normalizeLocation(value: string): string {
  return value.replace(/\s+/g, "").toLowerCase();
}

function isEmptyCollection(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && value !== null && Object.keys(value).length === 0;
}
