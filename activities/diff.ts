/**
 * Compare what Azure has with what the plan wants. Desired is a subset: properties Azure adds
 * (provisioningState, ids, defaults) are ignored; every property the plan sets must match.
 */

/** Property paths where `current` differs from `desired` (desired-subset semantics). */
export function diffDesired(current: unknown, desired: unknown, path = ""): string[] {
  if (desired === undefined) return [];
  // ARM omits (or nulls) empty lists and maps in its answers: wanting none is having none.
  if ((current === undefined || current === null) && isEmptyCollection(desired)) return [];
  if (desired === null || typeof desired !== "object") {
    return sameScalar(current, desired, path) ? [] : [path || "."];
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(current) || current.length !== desired.length) return [path || "."];
    return desired.flatMap((item, index) => diffDesired(current[index], item, `${path}[${index}]`));
  }
  if (current === null || typeof current !== "object" || Array.isArray(current)) return [path || "."];
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
