/**
 * A slug's footprint as an ARM deployment template (`GET /api/slugs/{slug}/template`), made from
 * the plan `planSlug` makes, as the seed deploys: a subscription deployment that creates
 * `claw-<slug>` and deploys the slug's resources in a deployment nested in it (and, for a grant on
 * a shared registry, one nested in the registry's group). Pure: no I/O, no clock.
 *
 * Each resource is the body its kind's activity sends, in ARM's REST shape at the api-version
 * Shire speaks. What the plan knows only at run time becomes a template expression: an output of
 * a resource in the template is `reference()` or `resourceId()` of it; the workspace's shared key
 * and the storage account's key, which Shire reads and passes on, are `listKeys()` inside the
 * template. Secrets Shire makes or the operator supplies cannot be: each is a `securestring`
 * parameter, never a value (the metadata gives a Key Vault reference to the slug's vault for each,
 * for a parameters file). Entra and Graph objects (apps, service principals, groups,
 * assignments), the static website's pages (blob data) and the app's run state (an action) have
 * no ARM resource: they are listed in the template's metadata, and an Entra id a resource needs
 * is a parameter (its default the id Shire last applied).
 *
 * How each kind becomes resources is src/model/template-kinds.ts (one place to add a kind); this
 * module places them in deployments and writes the template.
 */
import { isNodeReference, referencedNodes, type NodeReference, type Outputs } from "../contract/reference";
import type { PlanNode, PlanNodeOf, ResourceKind, SecretSource } from "../contract/resources";
import { API_VERSIONS } from "../azure/api-versions";
import type { SlugPlan } from "./plan";
import {
  Expression,
  SecureParameter,
  TEMPLATE_KINDS,
  isOutside,
  literal,
  quote,
  type ArmExport,
  type ExportContext,
  type KindExport,
  type OutsideArm,
  type ResourceSpec,
  type Target,
} from "./template-kinds";

export const SUBSCRIPTION_TEMPLATE_SCHEMA =
  "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";
export const RESOURCE_GROUP_TEMPLATE_SCHEMA =
  "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
const PARAMETERS_FILE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#";

type Json = Record<string, unknown>;

export interface ArmTemplate {
  $schema: string;
  contentVersion: string;
  metadata?: Json;
  parameters: Record<string, Json>;
  resources: Json[];
  outputs: Record<string, Json>;
}

export interface TemplateOptions {
  /** The subscription the plan is for (its resource ids name it). */
  subscriptionId: string;
  /** What the slug's operations last recorded per node (applied state): Entra ids become parameter defaults. */
  knownOutputs?: Record<string, Outputs>;
}

/** A deployment of the template: the subscription one (the template itself) or one nested in a resource group. */
interface Deployment {
  key: string;
  target: Target;
  name: string;
  resources: Json[];
  /** Inner parameters, each with the outer expression that gives its value. */
  parameters: Map<string, { definition: Json; value: string }>;
  outputs: Map<string, string>;
  /** Other deployments whose outputs it reads (it deploys after them). */
  after: Set<string>;
}

/** What the metadata says each parameter carries: a plan node's output, or a secret's value. */
interface ParameterOrigin {
  node: string;
  output?: string;
  secret?: true;
}

const targetKey = (target: Target) =>
  target === "subscription" ? "subscription" : `${target.subscriptionId}/${target.resourceGroup}`.toLowerCase();

/** A parameter name from a node id and an output: `group:admins` + `groupId` -> `groupAdminsGroupId`. */
function parameterName(nodeId: string, output = ""): string {
  const words = `${nodeId} ${output}`.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return words.map((word, index) => (index === 0 ? word : word[0].toUpperCase() + word.slice(1))).join("");
}

/** A reference's `format` as ARM's format string: braces doubled, `${value}` as `{0}`. */
const armFormatString = (format: string) =>
  format
    .split("${value}")
    .map((part) => part.replace(/\{/g, "{{").replace(/\}/g, "}}"))
    .join("{0}");

/**
 * The template for a slug's plan. Throws a TypeError for a plan a template cannot describe (a name
 * known only at run time): `planSlug` makes none.
 */
export function slugTemplate(plan: SlugPlan, options: TemplateOptions): ArmTemplate {
  const byId = new Map(plan.nodes.map((node) => [node.id, node]));
  const groupNode = plan.nodes.find((node): node is PlanNodeOf<"resourceGroup"> => node.kind === "resourceGroup");
  if (!groupNode) throw new TypeError(`The plan for '${plan.slug}' has no resource group.`);
  const context: ExportContext = {
    subscriptionId: options.subscriptionId,
    resourceGroup: literal(groupNode.desired.name, "The slug's resource group"),
  };
  const slugKey = targetKey({ subscriptionId: context.subscriptionId, resourceGroup: context.resourceGroup });

  const outer: Deployment = {
    key: "subscription",
    target: "subscription",
    name: "",
    resources: [],
    parameters: new Map(),
    outputs: new Map(),
    after: new Set(),
  };
  const deployments = new Map<string, Deployment>([[outer.key, outer]]);
  const outerParameters: Record<string, Json> = {};
  const origins: Record<string, ParameterOrigin> = {};
  const deploymentOf = (target: Target): Deployment => {
    const key = targetKey(target);
    let deployment = deployments.get(key);
    if (!deployment) {
      const others = [...deployments.keys()].filter((other) => other !== "subscription" && other !== slugKey).length;
      deployment = {
        key,
        target,
        name: key === slugKey ? `shire-${plan.slug}` : `shire-${plan.slug}-${others + 1}`,
        resources: [],
        parameters: new Map(),
        outputs: new Map(),
        after: new Set(),
      };
      deployments.set(key, deployment);
    }
    return deployment;
  };
  // The slug's own deployment first, whatever order the plan lists its nodes in.
  deploymentOf({ subscriptionId: context.subscriptionId, resourceGroup: context.resourceGroup });

  // Each node's resources, and the deployment holding its first (what its outputs read).
  const specs = new Map<string, ResourceSpec[]>();
  const outside: PlanNode[] = [];
  for (const node of plan.nodes) {
    const conversion = TEMPLATE_KINDS[node.kind] as KindExport<ResourceKind>;
    if (isOutside(conversion)) outside.push(node);
    else specs.set(node.id, (conversion as ArmExport<ResourceKind>).resources(node as never, context));
  }
  const home = (nodeId: string) => deploymentOf(specs.get(nodeId)![0].target);

  /** The expression for a resource's id, inside the deployment that holds it. */
  const idExpression = (spec: ResourceSpec): string => {
    const name = spec.name instanceof Expression ? spec.name.text : spec.name.map(quote).join(", ");
    if (spec.scope !== undefined) return `extensionResourceId(${quote(spec.scope)}, ${quote(spec.type)}, ${name})`;
    if (spec.target === "subscription") return `subscriptionResourceId(${quote(spec.type)}, ${name})`;
    return `resourceId(${quote(spec.type)}, ${name})`;
  };
  /** A nested deployment's id, from the subscription deployment. */
  const deploymentId = (deployment: Deployment): string => {
    const target = deployment.target as { subscriptionId: string; resourceGroup: string };
    const subscription = target.subscriptionId === context.subscriptionId ? "" : `${quote(target.subscriptionId)}, `;
    return `resourceId(${subscription}${quote(target.resourceGroup)}, 'Microsoft.Resources/deployments', ${quote(deployment.name)})`;
  };

  /** An outer parameter (an Entra id or a secret) that `deployment` reads: declared, and passed down. */
  const useParameter = (name: string, definition: Json, origin: ParameterOrigin, deployment: Deployment) => {
    if (origins[name] && JSON.stringify(origins[name]) !== JSON.stringify(origin))
      throw new TypeError(`Two values would share the parameter '${name}'.`);
    origins[name] = origin;
    outerParameters[name] ??= definition;
    if (deployment !== outer)
      deployment.parameters.set(name, {
        definition: { type: definition.type },
        value: `parameters(${quote(name)})`,
      });
    return `parameters(${quote(name)})`;
  };

  /** A node's output, as `deployment` reads it. */
  const outputExpression = (reference: NodeReference, deployment: Deployment): string => {
    const node = byId.get(reference.fromNode);
    if (!node) throw new TypeError(`A reference to '${reference.fromNode}', which the plan does not have.`);
    const conversion = TEMPLATE_KINDS[node.kind] as KindExport<ResourceKind>;
    let value: string;
    if (isOutside(conversion)) {
      const known = options.knownOutputs?.[node.id]?.[reference.output];
      value = useParameter(
        parameterName(node.id, reference.output),
        {
          type: "string",
          ...(typeof known === "string" && known ? { defaultValue: known } : {}),
          metadata: {
            description: `${reference.output} of ${node.title} (${node.kind}, made outside ARM: see metadata.shire.outsideArm)${typeof known === "string" && known ? "; the default is what Shire last applied" : ""}.`,
          },
        },
        { node: node.id, output: reference.output },
        deployment,
      );
    } else {
      const holder = home(node.id);
      const outputs = (conversion as ArmExport<ResourceKind>).outputs as Record<
        string,
        (id: string, node: PlanNode) => string
      >;
      const read = outputs[reference.output];
      if (!read) throw new TypeError(`${node.kind} has no output '${reference.output}'.`);
      const expression = read(idExpression(specs.get(node.id)![0]), node);
      if (holder === deployment) value = expression;
      else {
        // Another deployment's resource: the subscription deployment reads it (its own, or one a
        // nested deployment outputs) and passes it in as a parameter.
        const name = parameterName(node.id, reference.output);
        let passed = expression;
        if (holder !== outer) {
          holder.outputs.set(name, expression);
          passed = `reference(${deploymentId(holder)}, ${quote(API_VERSIONS.resources)}).outputs.${name}.value`;
          deployment.after.add(holder.key);
        }
        deployment.parameters.set(name, { definition: { type: "string" }, value: passed });
        value = `parameters(${quote(name)})`;
      }
    }
    return reference.format === undefined ? value : `format(${quote(armFormatString(reference.format))}, ${value})`;
  };

  /** A body as `deployment` writes it: references, expressions and secrets as expressions, literal brackets escaped. */
  const render = (value: unknown, deployment: Deployment): unknown => {
    if (isNodeReference(value)) return `[${outputExpression(value, deployment)}]`;
    if (value instanceof Expression) return `[${value.text}]`;
    if (value instanceof SecureParameter) {
      const node = byId.get(value.nodeId)!;
      const expression = useParameter(
        parameterName(value.nodeId),
        {
          type: "securestring",
          metadata: {
            description: `The value of ${node.title}: Shire made or was given it and keeps it only in the slug's vault (metadata.shire.secrets says where).`,
          },
        },
        { node: value.nodeId, secret: true },
        deployment,
      );
      return `[${expression}]`;
    }
    // A literal that looks like an expression is escaped, as ARM reads `[[...]` back as `[...]`.
    if (typeof value === "string") return value.startsWith("[") && value.endsWith("]") ? `[${value}` : value;
    if (Array.isArray(value)) return value.map((item) => render(item, deployment));
    if (value && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, render(item, deployment)]));
    return value;
  };

  for (const node of plan.nodes) {
    const nodeSpecs = specs.get(node.id);
    if (!nodeSpecs) continue;
    const dependencies = new Set([...node.dependsOn, ...referencedNodes(node.desired)]);
    nodeSpecs.forEach((spec, index) => {
      const deployment = deploymentOf(spec.target);
      const dependsOn = new Set<string>();
      if (index > 0) dependsOn.add(`[${idExpression(nodeSpecs[0])}]`);
      for (const dependency of dependencies) {
        if (!specs.has(dependency)) continue; // made outside ARM: a parameter, no order
        const holder = home(dependency);
        if (holder === deployment) dependsOn.add(`[${idExpression(specs.get(dependency)![0])}]`);
        else if (holder !== outer) deployment.after.add(holder.key);
      }
      const { body, ...rest } = spec;
      deployment.resources.push({
        type: rest.type,
        apiVersion: rest.apiVersion,
        name: rest.name instanceof Expression ? `[${rest.name.text}]` : rest.name.join("/"),
        ...(rest.scope !== undefined ? { scope: rest.scope } : {}),
        ...(dependsOn.size > 0 ? { dependsOn: [...dependsOn] } : {}),
        ...(render(body, deployment) as Json),
      });
    });
  }

  // Each resource group's deployment, nested in the subscription one.
  for (const deployment of deployments.values()) {
    if (deployment === outer) continue;
    const target = deployment.target as { subscriptionId: string; resourceGroup: string };
    const createsGroup = outer.resources.some(
      (resource) =>
        resource.type === "Microsoft.Resources/resourceGroups" &&
        String(resource.name).toLowerCase() === target.resourceGroup.toLowerCase() &&
        target.subscriptionId === context.subscriptionId,
    );
    const dependsOn = [
      ...(createsGroup
        ? [`[subscriptionResourceId('Microsoft.Resources/resourceGroups', ${quote(target.resourceGroup)})]`]
        : []),
      ...[...deployment.after].map((key) => `[${deploymentId(deployments.get(key)!)}]`),
    ];
    outer.resources.push({
      type: "Microsoft.Resources/deployments",
      apiVersion: API_VERSIONS.resources,
      name: deployment.name,
      ...(target.subscriptionId !== context.subscriptionId ? { subscriptionId: target.subscriptionId } : {}),
      resourceGroup: target.resourceGroup,
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
      properties: {
        mode: "Incremental",
        expressionEvaluationOptions: { scope: "Inner" },
        parameters: Object.fromEntries(
          [...deployment.parameters].map(([name, parameter]) => [name, { value: `[${parameter.value}]` }]),
        ),
        template: {
          $schema: RESOURCE_GROUP_TEMPLATE_SCHEMA,
          contentVersion: "1.0.0.0",
          parameters: Object.fromEntries(
            [...deployment.parameters].map(([name, parameter]) => [name, parameter.definition]),
          ),
          resources: deployment.resources,
          outputs: Object.fromEntries(
            [...deployment.outputs].map(([name, expression]) => [name, { type: "string", value: `[${expression}]` }]),
          ),
        },
      },
    });
  }

  return {
    $schema: SUBSCRIPTION_TEMPLATE_SCHEMA,
    contentVersion: "1.0.0.0",
    metadata: { shire: metadataOf(plan, outside, origins, specs, options) },
    parameters: outerParameters,
    resources: outer.resources,
    outputs: {},
  };
}

/** What the template cannot say, and where each parameter's value is. */
function metadataOf(
  plan: SlugPlan,
  outside: PlanNode[],
  origins: Record<string, ParameterOrigin>,
  specs: Map<string, ResourceSpec[]>,
  options: TemplateOptions,
): Json {
  const byId = new Map(plan.nodes.map((node) => [node.id, node]));
  const secretNodes = plan.nodes.filter((node): node is PlanNodeOf<"secret"> => node.kind === "secret");
  const parameterOf = (nodeId: string) =>
    Object.entries(origins).find(([, origin]) => origin.node === nodeId && origin.secret)?.[0];
  const vaultIdOf = (vaultName: string) => {
    const vault = [...specs.values()]
      .flat()
      .find(
        (spec) =>
          spec.type === "Microsoft.KeyVault/vaults" && !(spec.name instanceof Expression) && spec.name[0] === vaultName,
      );
    if (!vault || vault.target === "subscription" || vault.name instanceof Expression) return undefined;
    return `/subscriptions/${vault.target.subscriptionId}/resourceGroups/${vault.target.resourceGroup}/providers/Microsoft.KeyVault/vaults/${vault.name[0]}`;
  };
  const secrets = secretNodes.map((node) => {
    const source = node.desired.source as unknown as SecretSource;
    const parameter = parameterOf(node.id);
    const vaultId = vaultIdOf(String(node.desired.vaultName));
    return {
      node: node.id,
      secretName: node.desired.secretName,
      source: source.type,
      ...(parameter
        ? {
            parameter,
            keyVaultReference: { keyVault: { id: vaultId }, secretName: node.desired.secretName },
          }
        : { value: "listKeys() in the template: ARM reads the key during the deployment" }),
    };
  });
  const parametersFile = {
    $schema: PARAMETERS_FILE_SCHEMA,
    contentVersion: "1.0.0.0",
    parameters: Object.fromEntries(
      Object.entries(origins).map(([name, origin]) => {
        if (origin.secret) {
          const secret = secrets.find((entry) => entry.node === origin.node);
          return [name, { reference: secret && "keyVaultReference" in secret ? secret.keyVaultReference : undefined }];
        }
        const known = options.knownOutputs?.[origin.node]?.[origin.output!];
        return [name, { value: typeof known === "string" ? known : `<${origin.output} of ${origin.node}>` }];
      }),
    ),
  };
  return {
    slug: plan.slug,
    description: `The Azure resources of the OpenClaw environment '${plan.slug}', as Shire's plan for its last applied spec describes them (GET /api/slugs/${plan.slug}/template).`,
    outsideArm: outside.map((node) => ({
      node: node.id,
      kind: node.kind,
      title: node.title,
      why: (TEMPLATE_KINDS[node.kind] as OutsideArm).outside,
      dependsOn: node.dependsOn,
      desired: node.desired,
    })),
    parameters: origins,
    secrets,
    parametersFile,
    notes: [
      "Make the Entra objects in outsideArm first (Shire's install does), then deploy with their ids as parameters.",
      "Secrets are never in this template: Shire generated or was given them and keeps them only in the slug's vault. Each is a securestring parameter; parametersFile passes each as a Key Vault reference to that vault (which then needs enabledForTemplateDeployment and the deployer Microsoft.KeyVault/vaults/deploy/action), or pass new values. Keys Shire copies (the storage account's, a Foundry account's) and the workspace's shared key are listKeys() inside the template.",
      "A role assignment whose principal is known only during the deployment (an identity it creates, an Entra group) is named guid(scope, role, plan node), not Shire's name over (scope, role, principal): deployed beside Shire's own assignment of the same grant, Azure answers RoleAssignmentExists.",
      "A vault name still held by a soft-deleted vault fails the deployment; Shire recovers such a vault instead.",
      ...(byId.has("appRunState")
        ? ["The app runs once deployed; a retired slug's app is stopped (az containerapp stop)."]
        : []),
    ],
  };
}
