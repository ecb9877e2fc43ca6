/**
 * Values only known at run time (a workspace's customerId, an identity's principalId, an app's
 * FQDN) appear in a plan node's `desired` as references `{ fromNode, output }`; the walker
 * resolves them from the dependency's outputs before it calls the activity.
 */
export interface NodeReference {
  fromNode: string;
  output: string;
  /** Optional string template: `${value}` is replaced by the output (e.g. "https://openclaw.${value}"). */
  format?: string;
}

/** A desired value as the plan writes it: any string in it may be a reference instead. */
export type Resolvable<T> = T extends string
  ? T | NodeReference
  : T extends readonly (infer Item)[]
    ? Resolvable<Item>[]
    : T extends object
      ? { [Key in keyof T]: Resolvable<T[Key]> }
      : T;

/** The non-secret values a step hands its dependents, by output name. */
export type Outputs<Name extends string = string> = Record<Name, string | number | boolean | null>;

export function isNodeReference(value: unknown): value is NodeReference {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as NodeReference).fromNode === "string" &&
    typeof (value as NodeReference).output === "string" &&
    Object.keys(value).every((key) => key === "fromNode" || key === "output" || key === "format")
  );
}

/**
 * Replace every reference in `value` with the output it names. Pure; throws when one is missing,
 * unless `missing` is "null" (a removal needs only the names it has: a resource whose dependency
 * never existed was never made either).
 */
export function resolveReferences<T>(
  value: Resolvable<T>,
  outputs: Record<string, Outputs | undefined>,
  options: { missing?: "throw" | "null" } = {},
): T {
  return resolve(value, outputs, options.missing ?? "throw") as T;
}

function resolve(value: unknown, outputs: Record<string, Outputs | undefined>, missing: "throw" | "null"): unknown {
  if (isNodeReference(value)) {
    const known = outputs[value.fromNode];
    if (!known || !(value.output in known)) {
      if (missing === "null") return null;
      if (!known) throw new Error(`Reference to node "${value.fromNode}" which has no result yet.`);
      throw new Error(`Node "${value.fromNode}" has no output "${value.output}".`);
    }
    const output = known[value.output];
    if (value.format !== undefined) return value.format.split("${value}").join(String(output));
    return output;
  }
  if (Array.isArray(value)) return value.map((item) => resolve(item, outputs, missing));
  if (typeof value === "object" && value !== null) {
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) resolved[key] = resolve(item, outputs, missing);
    return resolved;
  }
  return value;
}

/** The nodes a value refers to (a step can run only after them). */
export function referencedNodes(value: unknown, found = new Set<string>()): Set<string> {
  if (isNodeReference(value)) found.add(value.fromNode);
  else if (Array.isArray(value)) for (const item of value) referencedNodes(item, found);
  else if (typeof value === "object" && value !== null)
    for (const item of Object.values(value)) referencedNodes(item, found);
  return found;
}
