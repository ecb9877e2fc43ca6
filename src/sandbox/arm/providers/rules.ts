import { randomBytes } from "node:crypto";

/** Azure's resource-name rules (azure-facts §G2) as the sandbox enforces them on PUT. */
export interface NameRule {
  test(name: string): boolean;
  code: string;
  message(name: string): string;
}

function rule(code: string, description: string, test: (name: string) => boolean): NameRule {
  return { test, code, message: (name) => `The name '${name}' is invalid: ${description}` };
}

const noDoubleHyphen = (name: string) => !name.includes("--");

export const NAME_RULES = {
  resourceGroup: rule(
    "InvalidResourceGroupName",
    "1-90 letters, digits, '-_.()', not ending in '.'.",
    (n) => /^[-\w.()]{1,90}$/.test(n) && !n.endsWith("."),
  ),
  vault: rule(
    "VaultNameNotValid",
    "3-24 letters, digits and hyphens, starting with a letter, ending with a letter or digit, without '--'.",
    (n) => /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(n) && noDoubleHyphen(n),
  ),
  storageAccount: rule("AccountNameInvalid", "3-24 lowercase letters and digits only.", (n) =>
    /^[a-z0-9]{3,24}$/.test(n),
  ),
  fileShare: rule(
    "InvalidResourceName",
    "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, without '--'.",
    (n) => /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(n) && noDoubleHyphen(n),
  ),
  managedEnvironment: rule(
    "InvalidResourceName",
    "2-60 lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, without '--'.",
    (n) => /^[a-z][a-z0-9-]{0,58}[a-z0-9]$/.test(n) && noDoubleHyphen(n),
  ),
  containerApp: rule(
    "ContainerAppInvalidName",
    "2-32 lowercase letters, digits and hyphens, starting with a letter, ending with a letter or digit, without '--'.",
    (n) => /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/.test(n) && noDoubleHyphen(n),
  ),
  environmentStorage: rule("InvalidResourceName", "1-32 lowercase letters, digits and hyphens.", (n) =>
    /^[a-z0-9-]{1,32}$/.test(n),
  ),
  identity: rule("InvalidResourceName", "3-128 letters, digits, '-' and '_', starting with a letter or digit.", (n) =>
    /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/.test(n),
  ),
  workspace: rule(
    "InvalidWorkspaceName",
    "4-63 letters, digits and hyphens, starting and ending with a letter or digit.",
    (n) => /^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$/.test(n),
  ),
  registry: rule("InvalidResourceName", "5-50 letters and digits.", (n) => /^[a-zA-Z0-9]{5,50}$/.test(n)),
  cognitiveAccount: rule(
    "InvalidResourceName",
    "2-64 letters, digits and hyphens, starting with a letter or digit.",
    (n) => /^[a-zA-Z0-9][a-zA-Z0-9-]{1,63}$/.test(n),
  ),
  roleAssignment: rule("InvalidRoleAssignmentId", "the role assignment ID must be a GUID.", (n) =>
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(n),
  ),
  bot: rule("InvalidBotName", "2-64 letters, digits, '-', '_' and '.'.", (n) =>
    /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$/.test(n),
  ),
  component: rule("InvalidResourceName", "1-260 characters without '%&\\?/'.", (n) => /^[^%&\\?/]{1,260}$/.test(n)),
};

/** Random base64 key of `bytes` bytes, as Azure account keys look. */
export function newKey(bytes = 64): string {
  return randomBytes(bytes).toString("base64");
}

export function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A JSON copy: stored request bodies must not alias what a provider goes on to change. */
export function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  if (!a || !b || typeof a !== "object" || typeof b !== "object") return false;
  const keysA = Object.keys(a).filter((key) => (a as Record<string, unknown>)[key] !== undefined);
  const keysB = Object.keys(b).filter((key) => (b as Record<string, unknown>)[key] !== undefined);
  return (
    keysA.length === keysB.length &&
    keysA.every((key) => jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  );
}

/** RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces (arrays whole). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== "object" || Array.isArray(patch)) return clone(patch);
  const result: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: unknown): value is string {
  return typeof value === "string" && GUID.test(value);
}
