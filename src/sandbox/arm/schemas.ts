/**
 * PUT bodies checked against the official ARM resource schemas for the pinned api-versions
 * (shared/reference/specs, read where they are, never copied), as specs/MANIFEST.md describes:
 * name/type/apiVersion come from the URL, template expressions are not allowed in a REST body,
 * and `properties` is optional where the REST API takes a body without it.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv from "ajv-draft-04";
import type { ErrorObject, ValidateFunction } from "ajv";
import { ArmErrors } from "./errors";

export const COMMON_ID = "https://schema.management.azure.com/schemas/common/definitions.json";
const EXPRESSION_REF = `${COMMON_ID}#/definitions/expression`;
/** The pattern of common/definitions.json's `expression` itself (which must not take itself as an alternative). */
const EXPRESSION_PATTERN = "^\\[([^\\[].*)?\\]$";

/** Provider namespace -> schema file (relative to the schemas folder) for the pinned version. */
const FILES: Record<string, string> = {
  "microsoft.resources": "2025-04-01/Microsoft.Resources.json",
  "microsoft.app": "2025-07-01/Microsoft.App.json",
  "microsoft.keyvault": "2026-02-01/Microsoft.KeyVault.json",
  "microsoft.storage": "2025-08-01/Microsoft.Storage.json",
  "microsoft.managedidentity": "2024-11-30/Microsoft.ManagedIdentity.json",
  "microsoft.authorization": "2022-04-01/Microsoft.Authorization.json",
  "microsoft.operationalinsights": "2025-07-01/Microsoft.OperationalInsights.json",
  "microsoft.insights": "2020-02-02/Microsoft.Insights.Application.json",
  "microsoft.cognitiveservices": "2025-09-01/Microsoft.CognitiveServices.json",
  "microsoft.containerregistry": "2025-11-01/Microsoft.ContainerRegistry.json",
  "microsoft.botservice": "2022-09-15/Microsoft.BotService.json",
};

/**
 * Where a generated schema contradicts the REST spec it was made from, the REST spec wins
 * (MANIFEST.md: "generator artifacts to correct for"). Container Apps' `cpu` is a double in the
 * REST spec (0.25, 0.5, ...) but came out as "integer" in the template schema.
 */
const CORRECTIONS: Record<string, { path: string[]; value: Json }[]> = {
  "microsoft.app": [
    {
      path: ["definitions", "ContainerResources", "properties", "cpu"],
      value: { type: "number", description: "Required CPU in cores, e.g. 0.5" },
    },
  ],
};

/**
 * The generator lists top-level `properties` as required on every definition; the REST specs
 * require it only for these (VaultCreateOrUpdateParameters, SecretCreateOrUpdateParameters,
 * RoleAssignmentCreateParameters). Everywhere else a body without it is refused, if at all, by the
 * service's own rules (a bot needs msaAppId, a component Application_Type), not by the schema.
 */
const PROPERTIES_REQUIRED = new Set([
  "microsoft.keyvault/vaults",
  "microsoft.keyvault/vaults/secrets",
  "microsoft.authorization/roleassignments",
]);

/** Api-versions Shire may send besides the pinned one, each with its own schema file. */
const EXTRA_FILES: Record<string, string> = {
  "microsoft.operationalinsights@2022-10-01": "2022-10-01/Microsoft.OperationalInsights.json",
};

type Json = Record<string, unknown>;

/**
 * A git worktree's main checkout, read from its `.git` file (`gitdir: <main>/.git/worktrees/<name>`,
 * whose `commondir` leads to `<main>/.git`); undefined for a plain checkout or anything unreadable.
 */
function mainCheckoutOf(root: string): string | undefined {
  try {
    const dotGit = path.join(root, ".git");
    if (!fs.statSync(dotGit).isFile()) return undefined;
    const gitdir = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, "utf8"))?.[1]?.trim();
    if (!gitdir) return undefined;
    const worktreeGitDir = path.resolve(root, gitdir);
    const commondir = fs.readFileSync(path.join(worktreeGitDir, "commondir"), "utf8").trim();
    return path.dirname(path.resolve(worktreeGitDir, commondir));
  } catch {
    return undefined;
  }
}

/**
 * Where the schemas are: SHIRE_ARM_SPECS_DIR, else `../shared/reference/specs/schemas` beside the
 * repository (for a git worktree, beside its main checkout: a worktree checks what main checks).
 */
export function findSchemasDir(): string | undefined {
  if (process.env.SHIRE_ARM_SPECS_DIR) {
    const named = path.join(process.env.SHIRE_ARM_SPECS_DIR, "schemas");
    // Named on purpose, so missing is a mistake to report, not a reason to check less.
    if (!fs.existsSync(path.join(named, "common", "definitions.json")))
      throw new Error(
        `SHIRE_ARM_SPECS_DIR is ${process.env.SHIRE_ARM_SPECS_DIR}, but ${named} holds no ARM schemas (schemas/common/definitions.json is missing).`,
      );
    return named;
  }
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) {
      const main = mainCheckoutOf(dir);
      for (const checkout of main ? [dir, main] : [dir]) {
        const candidate = path.join(checkout, "..", "shared", "reference", "specs", "schemas");
        if (fs.existsSync(candidate)) return candidate;
      }
    }
    if (path.dirname(dir) === dir) return undefined;
    dir = path.dirname(dir);
  }
}

function isExpressionRef(option: unknown): boolean {
  return Boolean(option && typeof option === "object" && (option as Json).$ref === EXPRESSION_REF);
}

/** Keys whose value maps names to schemas (not a schema itself). */
const SCHEMA_MAPS = new Set(["properties", "definitions", "patternProperties"]);

export interface SchemaPreparation {
  /**
   * Keep the template-expression alternative (a template resource), or remove it everywhere (a
   * REST body is never an expression). Kept, "X or an expression" is read as anyOf: a string
   * value can be both, which oneOf would refuse.
   */
  expressions: boolean;
  /**
   * Refuse properties a definition does not list (the generated schemas leave objects open, so a
   * misspelt or SDK-only property name would pass): for templates, which nothing else checks.
   */
  closed?: boolean;
}

/** A schema file (or part of one) prepared for one use: REST bodies (the sandbox) or template resources. */
export function prepareSchema(node: unknown, preparation: SchemaPreparation, inAllOf = false): unknown {
  if (Array.isArray(node)) return node.map((item) => prepareSchema(item, preparation));
  if (!node || typeof node !== "object") return node;
  const object = node as Json;
  const out: Json = {};
  for (const [key, value] of Object.entries(object)) {
    if (key === "allOf" && Array.isArray(value)) {
      // Discriminated unions come out as allOf [base with additionalProperties: false, oneOf
      // [variants]]: in JSON Schema the base's "false" would refuse every variant's own fields
      // (a bot channel's `properties`), which the REST API accepts. Drop it inside allOf.
      out[key] = value.map((member) => {
        const cleaned = prepareSchema(member, preparation, true) as Json;
        if (cleaned && cleaned.additionalProperties === false) delete cleaned.additionalProperties;
        return cleaned;
      });
    } else if ((key === "oneOf" || key === "anyOf") && Array.isArray(value)) {
      if (preparation.expressions) {
        out[value.some(isExpressionRef) ? "anyOf" : key] = value.map((option) => prepareSchema(option, preparation));
        continue;
      }
      const kept = value
        .filter((option) => !isExpressionRef(option))
        .map((option) => prepareSchema(option, preparation));
      if (kept.length === 1 && Object.keys(object).every((k) => k === key || k === "description"))
        return { ...(kept[0] as Json), ...(object.description ? { description: object.description } : {}) };
      out[key] = kept;
    } else if ((SCHEMA_MAPS.has(key) || /resourceDefinitions$/.test(key)) && value && typeof value === "object") {
      out[key] = Object.fromEntries(
        Object.entries(value as Json).map(([name, schema]) => [name, prepareSchema(schema, preparation)]),
      );
    } else {
      out[key] = prepareSchema(value, preparation);
    }
  }
  // In a template any string may be an expression: a constrained string (pattern, length, enum)
  // the generator left without the expression alternative takes one.
  if (
    preparation.expressions &&
    out.type === "string" &&
    out.pattern !== EXPRESSION_PATTERN &&
    ["pattern", "minLength", "maxLength", "enum"].some((rule) => rule in out)
  )
    return { anyOf: [out, { $ref: EXPRESSION_REF }] };
  // Objects with listed properties and no rule for others get closed; not inside an allOf, whose
  // members each list only part of what the whole allows.
  if (
    preparation.closed &&
    !inAllOf &&
    out.properties &&
    typeof out.properties === "object" &&
    !("additionalProperties" in out) &&
    !("patternProperties" in out) &&
    // Properties beside alternatives (a definition whose kinds, in oneOf, list the rest) stay open.
    !["oneOf", "anyOf", "allOf"].some((alternatives) => alternatives in out)
  )
    out.additionalProperties = false;
  return out;
}

/**
 * `provisioningState` is the service's (a few generated schemas list it as if writable, with the
 * spec's open enum closed): services ignore a value a body sends, so the validator must not judge it.
 */
function dropProvisioningState(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(dropProvisioningState);
  if (!node || typeof node !== "object") return;
  const object = node as Json;
  const properties = object.properties as Json | undefined;
  if (properties && typeof properties === "object" && "provisioningState" in properties)
    delete properties.provisioningState;
  for (const value of Object.values(object)) dropProvisioningState(value);
}

/** Fields of a resource definition that a REST body does not carry (the URL has them). */
const REST_URL_FIELDS = ["name", "type", "apiVersion", "resources"];

/**
 * One provider file, prepared: expressions and closing as asked, the service's provisioningState
 * left to the service, the corrections above, and each resource definition reduced to what is
 * validated (without `withoutFields`; `properties` required only where the REST spec requires it).
 */
export function loadProviderSchema(
  dir: string,
  file: string,
  namespace: string,
  preparation: SchemaPreparation,
  withoutFields: string[],
): { id: string; schema: Json } {
  const schema = prepareSchema(JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")), preparation) as Json;
  dropProvisioningState(schema);
  for (const correction of CORRECTIONS[namespace.toLowerCase()] ?? []) {
    let node = schema;
    for (const segment of correction.path.slice(0, -1)) node = (node[segment] as Json | undefined) ?? {};
    node[correction.path.at(-1)!] = correction.value;
  }
  const id = String(schema.id ?? `https://schema.management.azure.com/schemas/${file}#`).replace(/#$/, "");
  for (const group of Object.keys(schema).filter((key) => key.endsWith("resourceDefinitions"))) {
    for (const [name, definition] of Object.entries((schema[group] as Json | undefined) ?? {})) {
      const def = definition as Json;
      const properties = { ...((def.properties as Json) ?? {}) };
      for (const field of withoutFields) delete properties[field];
      const typeName = `${namespace}/${name.replace(/_/g, "/")}`.toLowerCase();
      const required = ((def.required as string[]) ?? []).filter(
        (field) => !withoutFields.includes(field) && !(field === "properties" && !PROPERTIES_REQUIRED.has(typeName)),
      );
      (schema[group] as Json)[name] = { ...def, properties, required };
    }
  }
  schema.id = id;
  return { id, schema };
}

/** Ajv's errors in a line a person can act on: where, what, and the allowed values or the unknown property. */
export function describeSchemaErrors(errors: ErrorObject[], limit: number): string {
  return errors
    .filter((error) => error.keyword !== "oneOf" && error.keyword !== "anyOf")
    .slice(0, limit)
    .map(
      (error) =>
        `${error.instancePath || "(body)"} ${error.message ?? "is invalid"}${error.keyword === "enum" ? ` (${JSON.stringify((error.params as { allowedValues?: unknown }).allowedValues)})` : ""}${error.keyword === "additionalProperties" ? ` ('${String((error.params as { additionalProperty?: unknown }).additionalProperty)}')` : ""}`,
    )
    .join("; ");
}

export class ArmSchemaValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  private readonly loaded = new Map<string, { id: string; schema: Json } | null>();
  private readonly compiled = new Map<string, ValidateFunction | null>();

  constructor(private readonly dir: string) {
    const common = JSON.parse(fs.readFileSync(path.join(dir, "common", "definitions.json"), "utf8")) as Json;
    this.ajv.addSchema(prepareSchema(common, { expressions: false }) as Json, COMMON_ID);
  }

  private provider(namespace: string, apiVersion?: string): { id: string; schema: Json } | null {
    const extra = apiVersion ? EXTRA_FILES[`${namespace.toLowerCase()}@${apiVersion}`] : undefined;
    const key = extra ? `${namespace.toLowerCase()}@${apiVersion}` : namespace.toLowerCase();
    if (!this.loaded.has(key)) {
      const file = extra ?? FILES[key];
      if (!file || !fs.existsSync(path.join(this.dir, file))) {
        this.loaded.set(key, null);
      } else {
        const loaded = loadProviderSchema(this.dir, file, namespace, { expressions: false }, REST_URL_FIELDS);
        this.ajv.addSchema(loaded.schema, loaded.id);
        this.loaded.set(key, loaded);
      }
    }
    return this.loaded.get(key)!;
  }

  /** Throws ARM's 400 when the body does not match the type's schema (for the request's api-version); silent for unknown types. */
  validate(type: string, body: unknown, apiVersion?: string): void {
    const [namespace, ...segments] = type.split("/");
    const versioned = apiVersion && EXTRA_FILES[`${namespace.toLowerCase()}@${apiVersion}`] ? `@${apiVersion}` : "";
    const key = `${type.toLowerCase()}${versioned}`;
    if (!this.compiled.has(key)) {
      const provider = this.provider(namespace, versioned ? apiVersion : undefined);
      const name = segments.join("_");
      let validator: ValidateFunction | null = null;
      if (provider) {
        const group = ["resourceDefinitions", "subscription_resourceDefinitions"].find(
          (candidate) => ((provider.schema[candidate] as Json | undefined) ?? {})[name],
        );
        if (group) validator = this.ajv.compile({ $ref: `${provider.id}#/${group}/${name}` });
      }
      this.compiled.set(key, validator);
    }
    const validator = this.compiled.get(key);
    if (!validator || validator(body)) return;
    const message = describeSchemaErrors(validator.errors ?? [], 5);
    throw ArmErrors.invalidContent(
      `The request content was invalid and could not be deserialized: ${message || "the body does not match the resource schema"}.`,
    );
  }
}

let shared: ArmSchemaValidator | null | undefined;

/**
 * The validator for this process, or null when the schemas are not there. A checkout without them
 * (a plain clone) is a normal setup, not a problem to warn about: PUT bodies get the built-in
 * checks (docs/sandbox.md says so). SHIRE_ARM_SPECS_DIR naming a folder without schemas throws.
 */
export function armSchemaValidator(): ArmSchemaValidator | null {
  if (shared === undefined) {
    const dir = findSchemasDir();
    shared = dir ? new ArmSchemaValidator(dir) : null;
  }
  return shared;
}
