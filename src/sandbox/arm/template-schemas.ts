/**
 * ARM deployment templates checked against the official schemas the sandbox checks REST bodies
 * with (../shared/reference/specs, read where they are), as specs/MANIFEST.md says to: the
 * template's own structure against the template schema its `$schema` names (whose index of every
 * provider is not there, so resources are checked on their own), and each resource against its
 * provider's file for the resource's own `apiVersion` (looked up by version: a version with no
 * schema is a problem, never a silent pass), at the scope the resource is deployed to.
 *
 * Unlike a REST body, a template value may be an expression, so the expression alternative stays
 * on wherever the schema has it; and since the generated schemas leave objects open, objects are
 * closed here: a property the schema does not list (a typo, an SDK model's name where the REST
 * name differs) is a problem. Test tooling: product code never loads src/sandbox.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv from "ajv-draft-04";
import type { ErrorObject, ValidateFunction } from "ajv";
import { COMMON_ID, describeSchemaErrors, loadProviderSchema, prepareSchema } from "./schemas";
import { isExpression, literalShape } from "./expressions";

type Json = Record<string, unknown>;

export type DeploymentScope = "subscription" | "resourceGroup";

/** The template schemas Shire's templates name, by `$schema` URL, and the scope each deploys at. */
const TEMPLATE_SCHEMAS: Record<string, { file: string; scope: DeploymentScope }> = {
  "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#": {
    file: "2019-04-01/deploymentTemplate.json",
    scope: "resourceGroup",
  },
  "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#": {
    file: "2018-05-01/subscriptionDeploymentTemplate.json",
    scope: "subscription",
  },
};

/** What ARM reads from a template resource itself, not the provider (checked by the template schema). */
const TEMPLATE_KEYS = ["type", "apiVersion", "dependsOn", "condition", "copy", "comments", "scope"];
/** Where a nested deployment deploys: template keys of Microsoft.Resources/deployments only. */
const DEPLOYMENT_TARGET_KEYS = ["resourceGroup", "subscriptionId"];
/** Fields of a resource definition the template resource is not validated on (type and version choose the definition). */
const TEMPLATE_DEFINITION_FIELDS = ["type", "apiVersion", "resources"];

/**
 * A value that fits none of a definition's alternatives fails in each of them; the errors deepest
 * in the value come from the alternative it was meant for, so they come first.
 */
function deepestFirst(errors: ErrorObject[]): ErrorObject[] {
  const depth = (error: ErrorObject) => error.instancePath.split("/").length;
  return [...errors].sort((a, b) => depth(b) - depth(a));
}

export class ArmTemplateValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  private readonly providers = new Map<string, { id: string; schema: Json } | null>();
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly dir: string) {
    const common = JSON.parse(fs.readFileSync(path.join(dir, "common", "definitions.json"), "utf8")) as Json;
    this.ajv.addSchema(prepareSchema(common, { expressions: true }) as Json, COMMON_ID);
  }

  /** Every problem of a template and its nested templates: structure, then each resource. Empty when it validates. */
  templateProblems(template: unknown, where = "template"): string[] {
    if (!template || typeof template !== "object") return [`${where}: not a JSON object`];
    const body = template as Json;
    const known = TEMPLATE_SCHEMAS[String(body.$schema)];
    if (!known)
      return [
        `${where}: $schema ${JSON.stringify(body.$schema)} is not one of the template schemas here (${Object.keys(TEMPLATE_SCHEMAS).join(", ")})`,
      ];
    const problems: string[] = [];
    const structure = this.structureValidator(known.file);
    if (!structure(template))
      problems.push(`${where}: ${describeSchemaErrors(structure.errors ?? [], 10) || "invalid template structure"}`);
    const resources = Array.isArray(body.resources) ? (body.resources as Json[]) : [];
    resources.forEach((resource, index) => {
      const label = `${where}.resources[${index}] ${String(resource.type)} ${JSON.stringify(resource.name)}`;
      const values = { parameters: body.parameters as Json, variables: body.variables as Json };
      problems.push(...this.resourceProblems(resource, known.scope, values).map((problem) => `${label}: ${problem}`));
      const nested = (resource.properties as Json | undefined)?.template;
      if (String(resource.type).toLowerCase() === "microsoft.resources/deployments" && nested) {
        const nestedScope =
          known.scope === "subscription" && !resource.resourceGroup ? "subscription" : "resourceGroup";
        const nestedKnown = TEMPLATE_SCHEMAS[String((nested as Json).$schema)];
        if (nestedKnown && nestedKnown.scope !== nestedScope)
          problems.push(
            `${label}: its template's $schema is for ${nestedKnown.scope} scope, but it deploys at ${nestedScope} scope`,
          );
        problems.push(...this.templateProblems(nested, `${label}.properties.template`));
      }
    });
    return problems;
  }

  /**
   * Problems of one template resource deployed at `scope`. A name that is an expression is checked
   * as its literal shape (`literalShape`, with the template's parameters and variables where they
   * are literal), since some definitions tell their kinds apart by name alone.
   */
  resourceProblems(
    resource: Json,
    scope: DeploymentScope,
    values: { parameters?: Json; variables?: Json } = {},
  ): string[] {
    const type = String(resource.type ?? "");
    const apiVersion = String(resource.apiVersion ?? "");
    if (isExpression(resource.type) || isExpression(resource.apiVersion))
      return ["type and apiVersion must be literals: ARM reads them before it evaluates anything"];
    const [namespace, ...segments] = type.split("/");
    if (!namespace || segments.length === 0) return [`'${type}' is not a resource type`];
    const found = this.definition(namespace, segments, apiVersion, scope);
    if (typeof found === "string") return [found];
    const problems: string[] = [];
    const instance: Json = { ...resource };
    if (isExpression(resource.name)) {
      try {
        instance.name = literalShape(resource.name, values);
      } catch (error) {
        return [`name: ${(error as Error).message}`];
      }
    }
    if (typeof instance.name === "string") {
      const parts = instance.name.split("/").length;
      if (parts !== segments.length)
        problems.push(`name '${String(resource.name)}' has ${parts} segment(s); a ${type} needs ${segments.length}`);
    }
    for (const key of TEMPLATE_KEYS) delete instance[key];
    if (type.toLowerCase() === "microsoft.resources/deployments")
      for (const key of DEPLOYMENT_TARGET_KEYS) delete instance[key];
    const check = (candidate: Json): boolean => Boolean(found(candidate));
    if (check(instance)) return problems;
    let errors = found.errors ?? [];
    // A child declared at the top of a template is named `parent/child`; most schemas' name rules
    // describe the child's own segment (a few, like Microsoft.Web's config, spell out the parent).
    if (errors.some((error) => error.instancePath === "/name") && typeof instance.name === "string") {
      if (check({ ...instance, name: instance.name.split("/").at(-1) })) return problems;
      errors = found.errors ?? [];
    }
    return [...problems, describeSchemaErrors(deepestFirst(errors), 10) || "does not match its schema"];
  }

  private structureValidator(file: string): ValidateFunction {
    const key = `template:${file}`;
    let validator = this.compiled.get(key);
    if (!validator) {
      const raw = JSON.parse(fs.readFileSync(path.join(this.dir, file), "utf8")) as Json;
      const definitions = { ...(raw.definitions as Json) };
      // Its resource list points at every provider's schema (an index not here): each resource is checked on its own.
      // Location and tags are the provider's to judge (this schema would refuse an expression for tags).
      definitions.resource = { $ref: "#/definitions/ARMResourceBase" };
      const schema = prepareSchema({ ...raw, definitions }, { expressions: true }) as Json;
      schema.id = `https://schema.management.azure.com/schemas/${file}`;
      this.ajv.addSchema(schema);
      validator = this.ajv.getSchema(schema.id as string)!;
      this.compiled.set(key, validator);
    }
    return validator;
  }

  /** The validator for a type at an api-version and scope, or why there is none. */
  private definition(
    namespace: string,
    segments: string[],
    apiVersion: string,
    scope: DeploymentScope,
  ): ValidateFunction | string {
    const group = scope === "subscription" ? "subscription_resourceDefinitions" : "resourceDefinitions";
    const name = segments.join("_");
    const key = `${namespace}/${name}@${apiVersion}:${group}`.toLowerCase();
    const cached = this.compiled.get(key);
    if (cached) return cached;
    for (const file of this.providerFiles(namespace, apiVersion)) {
      const provider = this.provider(namespace, file);
      const definitions = provider?.schema[group] as Json | undefined;
      if (provider && definitions?.[name]) {
        const validator = this.ajv.compile({ $ref: `${provider.id}#/${group}/${name}` });
        this.compiled.set(key, validator);
        return validator;
      }
    }
    const type = `${namespace}/${segments.join("/")}`;
    const versions = fs
      .readdirSync(this.dir)
      .filter((version) => version !== apiVersion && /^\d{4}-\d{2}-\d{2}/.test(version))
      .filter((version) =>
        this.providerFiles(namespace, version).some(
          (file) => (this.provider(namespace, file)?.schema[group] as Json | undefined)?.[name],
        ),
      );
    return `no schema for ${type} at api-version '${apiVersion}' (${scope} scope) in the reference specs${versions.length > 0 ? `; versions with one: ${versions.join(", ")}` : ""}`;
  }

  /** The files of a provider namespace for one api-version (`Microsoft.Insights.Application.json` is Microsoft.Insights's). */
  private providerFiles(namespace: string, apiVersion: string): string[] {
    const folder = path.join(this.dir, apiVersion);
    if (!/^[\w.-]+$/.test(apiVersion) || !fs.existsSync(folder)) return [];
    const prefix = `${namespace.toLowerCase()}.`;
    return fs
      .readdirSync(folder)
      .filter((file) => file.toLowerCase().startsWith(prefix) && file.endsWith(".json"))
      .map((file) => `${apiVersion}/${file}`);
  }

  private provider(namespace: string, file: string): { id: string; schema: Json } | null {
    if (!this.providers.has(file)) {
      const loaded = loadProviderSchema(
        this.dir,
        file,
        namespace,
        { expressions: true, closed: true },
        TEMPLATE_DEFINITION_FIELDS,
      );
      this.ajv.addSchema(loaded.schema, loaded.id);
      this.providers.set(file, loaded);
    }
    return this.providers.get(file)!;
  }
}
