/**
 * A slug's exported template (src/model/template.ts) against its plan, over install variants that
 * use every resource kind: each resource validates against the official ARM schemas; deployed (a
 * fake deployment evaluates its expressions: `reference()` answers each resource's GET with the
 * plan's run-time outputs, `listKeys()` and secure parameters answer markers) it writes exactly
 * the resources, names and bodies the plan's activities write, in their order; secrets are never
 * values; and what ARM cannot express is listed in the metadata.
 *
 * EXPECTED below is the one place that says, per ARM kind, what a node's activity writes (type,
 * id, api-version, REST body), read from activities/kinds/*.
 */
import { describe, expect, it } from "vitest";
import { itWithSchemas } from "../sandbox/arm-helpers";
import { allTemplateProblems } from "../fixtures/arm-template";
import { armFormat, evaluateValue, type ArmFunction } from "../../src/sandbox/arm/expressions";
import { planSlug, type PlanContext, type SlugPlan } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { roleAssignmentName } from "../../src/model/names";
import { slugTemplate, type ArmTemplate } from "../../src/model/template";
import { TEMPLATE_KINDS } from "../../src/model/template-kinds";
import { resolveReferences, type Outputs } from "../../src/contract/reference";
import type { DesiredOf, PlanNode, ResourceKind } from "../../src/contract/resources";
import { RESOURCE_KIND_NAMES } from "../../activities/registry";
import { API_VERSIONS } from "../../src/azure/api-versions";

type Json = Record<string, unknown>;

const SUBSCRIPTION = "00000000-0000-4000-8000-0000000000c1";
const TENANT = "00000000-0000-4000-8000-0000000000c2";
const BROKER = "00000000-0000-4000-8000-0000000000b0";
const REGISTRY_SUBSCRIPTION = "00000000-0000-4000-8000-0000000000d1";
const REGISTRY_ID = `/subscriptions/${REGISTRY_SUBSCRIPTION}/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/shireacr`;
const FOUNDRY_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/contoso-ai`;

const context = (registry: boolean): PlanContext => ({
  subscriptionId: SUBSCRIPTION,
  tenantId: TENANT,
  brokerPrincipalId: BROKER,
  vaultUri: (name) => `https://${name}.vault.azure.net/`,
  ...(registry ? { sharedRegistry: { resourceId: REGISTRY_ID, loginServer: "shireacr.azurecr.io" } } : {}),
});

function planFor(slug: string, body: unknown, registry: boolean): SlugPlan {
  const spec = validateInstallRequest(slug, body, {
    defaultRegion: "westeurope",
    defaultImage: "ghcr.io/openclaw/openclaw:2026.9.6",
    allowedRegistries: ["ghcr.io/openclaw/openclaw", "shireacr.azurecr.io"],
  });
  if (!spec.ok) throw new Error(JSON.stringify(spec.problems));
  return planSlug(spec.spec, context(registry));
}

/** An install that uses every optional part. */
const EVERYTHING = {
  channels: { teams: { enabled: true }, telegram: { enabled: true, mode: "webhook" } },
  foundry: { endpoint: "https://contoso-ai.openai.azure.com/", deployment: "gpt-4o", accountResourceId: FOUNDRY_ID },
  allowedIdentities: ["00000000-0000-4000-8000-00000000e001"],
  tags: { costCenter: "42" },
};

/** Install variants that, together, use every resource kind. */
const VARIANTS: Record<string, SlugPlan> = {
  defaults: planFor("plain", {}, true),
  everything: planFor("full", EVERYTHING, true),
  // A Teams slug installed before bot identities: its bot on its own app registration.
  appRegistrationBot: planFor("legacy", { channels: { teams: { botIdentity: "appRegistration" } } }, true),
  operatorSecrets: planFor(
    "ops",
    {
      channels: { telegram: { enabled: true, mode: "polling" } },
      foundry: { endpoint: "https://contoso-ai.openai.azure.com/", deployment: "gpt-4o" },
    },
    false,
  ),
};

/** A run-time output's value in the fake deployment. */
const out = (node: string, output: string) => `out:${node}.${output}`;

interface Expected {
  type: string;
  apiVersion: string;
  /** The ARM id it will have. */
  id: string;
  /** The REST body (what the activity PUTs), without name, type and api-version. */
  body: Json;
  /** What a `reference()` to it answers (its GET's properties), from the node's outputs. */
  readBack?: Json;
}

const inGroup = (group: string, type: string, ...names: string[]) => {
  const [namespace, ...types] = type.split("/");
  return `/subscriptions/${SUBSCRIPTION}/resourceGroups/${group}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join("/")}`;
};

type ArmKind = Exclude<
  ResourceKind,
  "staticWebsite" | "appRunState" | "entraApp" | "entraGroup" | "groupAssignment" | "identityAssignments"
>;
/** Kinds no ARM template can express (Graph, blob data, an action): in the metadata instead. */
const OUTSIDE_ARM: Exclude<ResourceKind, ArmKind>[] = [
  "staticWebsite",
  "appRunState",
  "entraApp",
  "entraGroup",
  "groupAssignment",
  "identityAssignments",
];

/**
 * What each ARM kind's activity writes for a node (its desired state resolved with the run-time
 * outputs `o` gives): activities/kinds/<kind>.ts, in ARM's REST shape.
 */
const EXPECTED: {
  [K in ArmKind]: (d: DesiredOf<K>, node: PlanNode, o: (output: string) => string) => Expected[];
} = {
  resourceGroup: (d) => [
    {
      type: "Microsoft.Resources/resourceGroups",
      apiVersion: "2025-04-01",
      id: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${d.name}`,
      body: { location: d.location, tags: d.tags },
    },
  ],
  logAnalytics: (d, _node, o) => [
    {
      type: "Microsoft.OperationalInsights/workspaces",
      apiVersion: "2025-07-01",
      id: inGroup(d.resourceGroup, "Microsoft.OperationalInsights/workspaces", d.name),
      body: {
        location: d.location,
        tags: d.tags,
        properties: { sku: { name: d.sku }, retentionInDays: d.retentionInDays },
      },
      readBack: { customerId: o("customerId") },
    },
  ],
  appInsights: (d, _node, o) => [
    {
      type: "Microsoft.Insights/components",
      apiVersion: "2020-02-02",
      id: d.resourceId,
      body: {
        location: d.location,
        kind: "web",
        tags: d.tags,
        properties: {
          Application_Type: "web",
          WorkspaceResourceId: d.workspaceResourceId,
          IngestionMode: "LogAnalytics",
        },
      },
      readBack: { ConnectionString: o("connectionString") },
    },
  ],
  identity: (d, _node, o) => [
    {
      type: "Microsoft.ManagedIdentity/userAssignedIdentities",
      apiVersion: "2024-11-30",
      id: inGroup(d.resourceGroup, "Microsoft.ManagedIdentity/userAssignedIdentities", d.name),
      body: { location: d.location, tags: d.tags },
      readBack: { principalId: o("principalId"), clientId: o("clientId") },
    },
  ],
  keyVault: (d, _node, o) => [
    {
      type: "Microsoft.KeyVault/vaults",
      apiVersion: "2026-02-01",
      id: inGroup(d.resourceGroup, "Microsoft.KeyVault/vaults", d.name),
      body: {
        location: d.location,
        tags: d.tags,
        properties: {
          tenantId: d.tenantId,
          sku: { family: "A", name: "standard" },
          enableRbacAuthorization: true,
          enableSoftDelete: true,
          publicNetworkAccess: "Enabled",
          softDeleteRetentionInDays: d.softDeleteRetentionInDays,
        },
      },
      readBack: { vaultUri: o("vaultUri") },
    },
  ],
  roleAssignment: (d, node) => {
    // Named as Shire names it where the principal is known before the deployment starts.
    const name = d.principalId.startsWith("out:")
      ? `guid(${d.scope},${d.roleDefinitionGuid},${node.id})`
      : roleAssignmentName(d.scope, d.roleDefinitionGuid, d.principalId);
    const subscription = /^\/subscriptions\/([^/]+)/.exec(d.scope)![1];
    return [
      {
        type: "Microsoft.Authorization/roleAssignments",
        apiVersion: "2022-04-01",
        id: `${d.scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        body: {
          properties: {
            roleDefinitionId: `/subscriptions/${subscription}/providers/Microsoft.Authorization/roleDefinitions/${d.roleDefinitionGuid}`,
            principalId: d.principalId,
            principalType: d.principalType,
          },
        },
      },
    ];
  },
  storageAccount: (d, _node, o) => [
    {
      type: "Microsoft.Storage/storageAccounts",
      apiVersion: "2025-08-01",
      id: inGroup(d.resourceGroup, "Microsoft.Storage/storageAccounts", d.name),
      body: {
        location: d.location,
        tags: d.tags,
        sku: { name: d.sku },
        kind: "StorageV2",
        properties: {
          supportsHttpsTrafficOnly: true,
          minimumTlsVersion: "TLS1_2",
          allowBlobPublicAccess: false,
          allowSharedKeyAccess: true,
        },
      },
      readBack: { primaryEndpoints: { blob: o("blobEndpoint"), web: o("webEndpoint") } },
    },
  ],
  fileShare: (d) => [
    {
      type: "Microsoft.Storage/storageAccounts/fileServices/shares",
      apiVersion: "2025-08-01",
      id: inGroup(
        d.resourceGroup,
        "Microsoft.Storage/storageAccounts/fileServices/shares",
        d.accountName,
        "default",
        d.shareName,
      ),
      body: { properties: { shareQuota: d.quotaGiB, enabledProtocols: "SMB" } },
    },
  ],
  managedEnvironment: (d, _node, o) => [
    {
      type: "Microsoft.App/managedEnvironments",
      apiVersion: "2025-07-01",
      id: inGroup(d.resourceGroup, "Microsoft.App/managedEnvironments", d.name),
      body: {
        location: d.location,
        tags: d.tags,
        properties: {
          appLogsConfiguration: {
            destination: "log-analytics",
            logAnalyticsConfiguration: {
              customerId: d.workspaceCustomerId,
              sharedKey: `listKeys:${inGroup(d.workspaceResourceGroup, "Microsoft.OperationalInsights/workspaces", d.workspaceName)}#primarySharedKey`,
            },
          },
        },
      },
      readBack: { defaultDomain: o("defaultDomain"), staticIp: o("staticIp") },
    },
  ],
  environmentStorage: (d) => [
    {
      type: "Microsoft.App/managedEnvironments/storages",
      apiVersion: "2025-07-01",
      id: inGroup(d.resourceGroup, "Microsoft.App/managedEnvironments/storages", d.environmentName, d.name),
      body: {
        properties: {
          azureFile: {
            accountName: d.storageAccountName,
            shareName: d.shareName,
            accessMode: d.accessMode,
            accountKey: `listKeys:${inGroup(d.resourceGroup, "Microsoft.Storage/storageAccounts", d.storageAccountName)}#0`,
          },
        },
      },
    },
  ],
  secret: (d, node, o) => {
    const source = d.source;
    const value =
      source.type === "storageAccountKey"
        ? `listKeys:${inGroup(source.resourceGroup, "Microsoft.Storage/storageAccounts", source.accountName)}#${source.keyName === "key1" ? 0 : 1}`
        : source.type === "cognitiveServicesKey"
          ? `listKeys:${source.accountResourceId}#key1`
          : `secure:${node.id}`;
    return [
      {
        type: "Microsoft.KeyVault/vaults/secrets",
        apiVersion: "2026-02-01",
        id: inGroup(groupOf(node), "Microsoft.KeyVault/vaults/secrets", d.vaultName, d.secretName),
        body: { ...(d.tags ? { tags: d.tags } : {}), properties: { value } },
        readBack: {
          secretUriWithVersion: `https://${d.vaultName}.vault.azure.net/secrets/${d.secretName}/${o("version")}`,
        },
      },
    ];
  },
  containerApp: (d, _node, o) => [
    {
      type: "Microsoft.App/containerApps",
      apiVersion: "2025-07-01",
      id: inGroup(d.resourceGroup, "Microsoft.App/containerApps", d.name),
      body: {
        location: d.location,
        tags: d.tags,
        identity: { type: "UserAssigned", userAssignedIdentities: { [d.identityResourceId]: {} } },
        properties: { environmentId: d.environmentId, configuration: d.configuration, template: d.template },
      },
      readBack: { configuration: { ingress: { fqdn: o("fqdn") } }, latestRevisionName: o("latestRevisionName") },
    },
  ],
  authConfig: (d) => [
    {
      type: "Microsoft.App/containerApps/authConfigs",
      apiVersion: "2025-07-01",
      id: inGroup(d.resourceGroup, "Microsoft.App/containerApps/authConfigs", d.containerAppName, "current"),
      body: { properties: d.config as Json },
    },
  ],
  botService: (d, _node, o) => [
    {
      type: "Microsoft.BotService/botServices",
      apiVersion: "2022-09-15",
      id: inGroup(d.resourceGroup, "Microsoft.BotService/botServices", d.name),
      body: {
        location: "global",
        kind: "azurebot",
        sku: { name: d.sku },
        tags: d.tags,
        properties: {
          displayName: d.displayName,
          endpoint: d.messagingEndpoint,
          msaAppId: d.msaAppId,
          msaAppType: d.msaAppType,
          msaAppTenantId: d.tenantId,
          ...(d.msaAppMSIResourceId ? { msaAppMSIResourceId: d.msaAppMSIResourceId } : {}),
        },
      },
      readBack: { endpoint: o("messagingEndpoint") },
    },
    {
      type: "Microsoft.BotService/botServices/channels",
      apiVersion: "2022-09-15",
      id: inGroup(d.resourceGroup, "Microsoft.BotService/botServices/channels", d.name, "MsTeamsChannel"),
      body: { location: "global", properties: { channelName: "MsTeamsChannel", properties: { isEnabled: true } } },
    },
  ],
};

let groupOfPlan = "";
const groupOf = (_node: PlanNode) => groupOfPlan;

const isArm = (kind: ResourceKind): kind is ArmKind => kind in EXPECTED;

/** Every ARM node's resources, its desired state resolved with the fake run-time outputs. */
function expectedResources(plan: SlugPlan): Map<string, Expected[]> {
  groupOfPlan = plan.nodes.find((node) => node.kind === "resourceGroup")!.desired.name as string;
  const derive = (outputs: Record<string, Outputs>) =>
    new Map(
      plan.nodes
        .filter((node) => isArm(node.kind))
        .map((node) => [
          node.id,
          (EXPECTED[node.kind as ArmKind] as (d: unknown, n: PlanNode, o: (x: string) => string) => Expected[])(
            resolveReferences(node.desired as never, outputs),
            node,
            (output) => String(outputs[node.id][output]),
          ),
        ]),
    );
  // Every output is a marker, but a resource's id, which is its ARM id (names are known up front).
  const fake = (ids: Map<string, Expected[]> | undefined): Record<string, Outputs> =>
    new Proxy(
      {},
      {
        get: (_target, nodeId: string) =>
          new Proxy(
            {},
            {
              has: () => true,
              get: (_t, output: string) =>
                output === "resourceId" && ids?.get(nodeId) ? ids.get(nodeId)![0].id : out(nodeId, output),
            },
          ),
        has: () => true,
      },
    );
  return derive(fake(derive(fake(undefined))));
}

interface Deployed {
  type: string;
  apiVersion: string;
  id: string;
  dependsOn: string[];
  body: Json;
  /** The nested deployment it was in (undefined: the subscription deployment). */
  deployment?: string;
}

/**
 * Deploy the template in a fake: every expression evaluated at its scope, parameters from the
 * plan's fake outputs (metadata.shire.parameters says which), `reference()` answered with the
 * expected resource's GET. Returns each resource as ARM would write it.
 */
function deploy(template: ArmTemplate, expected: Map<string, Expected[]>): Deployed[] {
  const all = [...expected.values()].flat();
  const origins = (template.metadata!.shire as Json).parameters as Record<
    string,
    { node: string; output?: string; secret?: boolean }
  >;
  const deployed: Deployed[] = [];
  const deploymentOutputs = new Map<string, Json>();
  const run = (
    body: { resources: Json[]; outputs?: Json },
    scope: { subscriptionId: string; resourceGroup?: string },
    parameters: Record<string, unknown>,
    deploymentName?: string,
  ) => {
    const scopeId = `/subscriptions/${scope.subscriptionId}${scope.resourceGroup ? `/resourceGroups/${scope.resourceGroup}` : ""}`;
    const idOf = (type: string, names: string[]) => {
      const [namespace, ...types] = type.split("/");
      return `${scopeId}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join("/")}`;
    };
    const functions: Record<string, ArmFunction> = {
      parameters: (name) => {
        if (!(String(name) in parameters)) throw new Error(`no parameter ${String(name)}`);
        return parameters[String(name)];
      },
      resourceId: (...args) => {
        const at = args.findIndex((arg) => String(arg).includes("/"));
        const [sub, group] =
          at === 2
            ? [args[0], args[1]]
            : at === 1
              ? [scope.subscriptionId, args[0]]
              : [scope.subscriptionId, scope.resourceGroup];
        const [namespace, ...types] = String(args[at]).split("/");
        const names = args.slice(at + 1).map(String);
        return `/subscriptions/${String(sub)}/resourceGroups/${String(group)}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i]}`).join("/")}`;
      },
      subscriptionResourceId: (type, ...names) => {
        const [namespace, ...types] = String(type).split("/");
        if (namespace === "Microsoft.Resources" && types[0] === "resourceGroups")
          return `/subscriptions/${scope.subscriptionId}/resourceGroups/${String(names[0])}`;
        return `/subscriptions/${scope.subscriptionId}/providers/${namespace}/${types.map((t, i) => `${t}/${String(names[i])}`).join("/")}`;
      },
      extensionResourceId: (base, type, ...names) => {
        const [namespace, ...types] = String(type).split("/");
        return `${String(base)}/providers/${namespace}/${types.map((t, i) => `${t}/${String(names[i])}`).join("/")}`;
      },
      reference: (id, apiVersion, full) => {
        const key = String(id).toLowerCase();
        const nested = deploymentOutputs.get(key);
        if (nested) return { outputs: nested };
        const target = all.find((resource) => resource.id.toLowerCase() === key);
        if (!target || (!target.readBack && full !== "Full"))
          throw new Error(`reference() to ${String(id)}, which the fake cannot answer`);
        if (apiVersion !== target.apiVersion)
          throw new Error(`reference() to ${String(id)} at ${String(apiVersion)}; Shire speaks ${target.apiVersion}`);
        // 'Full' is the whole resource; otherwise its properties.
        return full === "Full"
          ? { location: target.body.location, properties: target.readBack ?? {} }
          : target.readBack;
      },
      listKeys: (id) => ({
        keys: [{ value: `listKeys:${String(id)}#0` }, { value: `listKeys:${String(id)}#1` }],
        primarySharedKey: `listKeys:${String(id)}#primarySharedKey`,
        key1: `listKeys:${String(id)}#key1`,
      }),
      format: armFormat,
      guid: (...args) => `guid(${args.map(String).join(",")})`,
      split: (value, separator) => String(value).split(String(separator)),
      last: (value) => (value as unknown[]).at(-1),
      false: () => false,
    };
    for (const resource of body.resources) {
      // A nested template of inner scope is evaluated in its own deployment, not here.
      const nestedTemplate =
        resource.type === "Microsoft.Resources/deployments" ? (resource.properties as Json).template : undefined;
      const evaluated = evaluateValue(
        nestedTemplate
          ? { ...resource, properties: { ...(resource.properties as Json), template: undefined } }
          : resource,
        functions,
      ) as Json;
      const { type, apiVersion, name, dependsOn, scope: extensionScope, ...rest } = evaluated;
      if (type === "Microsoft.Resources/deployments") {
        const properties = rest.properties as Json;
        const values = Object.fromEntries(
          Object.entries(properties.parameters as Record<string, { value: unknown }>).map(([key, entry]) => [
            key,
            entry.value,
          ]),
        );
        const nestedScope = {
          subscriptionId: String(rest.subscriptionId ?? scope.subscriptionId),
          resourceGroup: String(rest.resourceGroup),
        };
        run(nestedTemplate as { resources: Json[]; outputs?: Json }, nestedScope, values, String(name));
        continue;
      }
      const id =
        type === "Microsoft.Authorization/roleAssignments"
          ? `${String(extensionScope ?? scopeId)}/providers/Microsoft.Authorization/roleAssignments/${String(name)}`
          : type === "Microsoft.Resources/resourceGroups"
            ? `/subscriptions/${scope.subscriptionId}/resourceGroups/${String(name)}`
            : idOf(String(type), String(name).split("/"));
      deployed.push({
        type: String(type),
        apiVersion: String(apiVersion),
        id,
        dependsOn: ((dependsOn as string[] | undefined) ?? []).map(String),
        body: rest,
        ...(deploymentName ? { deployment: deploymentName } : {}),
      });
    }
    if (deploymentName && scope.resourceGroup) {
      const outputs = Object.fromEntries(
        Object.entries((body.outputs ?? {}) as Record<string, { value: unknown }>).map(([key, output]) => [
          key,
          { value: evaluateValue(output.value, functions) },
        ]),
      );
      deploymentOutputs.set(
        `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup}/providers/Microsoft.Resources/deployments/${deploymentName}`.toLowerCase(),
        outputs,
      );
    }
  };
  const parameters = Object.fromEntries(
    Object.entries(template.parameters).map(([name]) => {
      const origin = origins[name];
      if (!origin) throw new Error(`parameter ${name} has no origin in the metadata`);
      return [name, origin.secret ? `secure:${origin.node}` : out(origin.node, origin.output!)];
    }),
  );
  run(template as unknown as { resources: Json[] }, { subscriptionId: SUBSCRIPTION }, parameters);
  return deployed;
}

describe("a slug's exported template", () => {
  it("the variants use every resource kind, and every kind says how it is exported", () => {
    const used = new Set(Object.values(VARIANTS).flatMap((plan) => plan.nodes.map((node) => node.kind)));
    expect([...used].sort()).toEqual([...RESOURCE_KIND_NAMES].sort());
    for (const kind of RESOURCE_KIND_NAMES) {
      const exported = TEMPLATE_KINDS[kind];
      expect("outside" in exported, kind).toBe(OUTSIDE_ARM.includes(kind as never));
    }
  });

  for (const [variant, plan] of Object.entries(VARIANTS)) {
    itWithSchemas(`${variant}: validates against the ARM schemas, every parameter used, built-in roles only`, () => {
      const template = slugTemplate(plan, { subscriptionId: SUBSCRIPTION });
      expect(allTemplateProblems(template as unknown as Json)).toEqual([]);
    });

    it(`${variant}: deploys exactly the resources, names and bodies the plan's activities write`, () => {
      const expected = expectedResources(plan);
      const deployed = deploy(slugTemplate(plan, { subscriptionId: SUBSCRIPTION }), expected);
      const wanted = [...expected.values()].flat();
      expect(deployed.map((resource) => resource.id).sort()).toEqual(wanted.map((resource) => resource.id).sort());
      for (const resource of wanted) {
        const found = deployed.find((candidate) => candidate.id === resource.id)!;
        expect({ type: found.type, apiVersion: found.apiVersion, body: found.body }, resource.id).toEqual({
          type: resource.type,
          apiVersion: resource.apiVersion,
          body: resource.body,
        });
      }
    });

    it(`${variant}: each resource deploys after what it depends on`, () => {
      const expected = expectedResources(plan);
      const deployed = deploy(slugTemplate(plan, { subscriptionId: SUBSCRIPTION }), expected);
      const byId = new Map(deployed.map((resource) => [resource.id, resource]));
      const firstOf = (nodeId: string) => byId.get(expected.get(nodeId)![0].id)!;
      for (const node of plan.nodes.filter((candidate) => expected.has(candidate.id))) {
        const resource = firstOf(node.id);
        for (const dependency of node.dependsOn.filter((id) => expected.has(id))) {
          const before = firstOf(dependency);
          if (before.deployment === resource.deployment)
            expect(resource.dependsOn, `${node.id} after ${dependency}`).toContain(before.id);
        }
      }
    });

    it(`${variant}: secrets are parameters or listKeys(), never values; the rest of Entra is in the metadata`, () => {
      const template = slugTemplate(plan, { subscriptionId: SUBSCRIPTION });
      const shire = template.metadata!.shire as Json;
      for (const [name, parameter] of Object.entries(template.parameters)) {
        const origin = (shire.parameters as Record<string, { node: string; secret?: boolean }>)[name];
        if (origin.secret) {
          expect(parameter.type, name).toBe("securestring");
          expect(parameter, name).not.toHaveProperty("defaultValue");
        } else expect(parameter.type, name).toBe("string");
      }
      const secrets = shire.secrets as { node: string; parameter?: string; keyVaultReference?: Json }[];
      expect(secrets.map((secret) => secret.node).sort()).toEqual(
        plan.nodes
          .filter((node) => node.kind === "secret")
          .map((node) => node.id)
          .sort(),
      );
      const file = (shire.parametersFile as { parameters: Record<string, Json> }).parameters;
      for (const secret of secrets.filter((entry) => entry.parameter))
        expect(file[secret.parameter!]).toEqual({ reference: secret.keyVaultReference });
      const outside = (shire.outsideArm as { node: string; why: string }[]).map((entry) => entry.node).sort();
      expect(outside).toEqual(
        plan.nodes
          .filter((node) => OUTSIDE_ARM.includes(node.kind as never))
          .map((node) => node.id)
          .sort(),
      );
    });
  }

  it("a managed-identity bot is exported as UserAssignedMSI on the slug's identity; an app-registration bot as SingleTenant on its app", () => {
    const botOf = (plan: SlugPlan) => {
      const template = slugTemplate(plan, { subscriptionId: SUBSCRIPTION });
      const deployed = deploy(template, expectedResources(plan));
      return {
        parameters: Object.keys(template.parameters),
        bot: deployed.find((resource) => resource.type === "Microsoft.BotService/botServices")!.body.properties,
      };
    };
    const managed = botOf(VARIANTS.defaults);
    expect(managed.bot).toMatchObject({
      msaAppType: "UserAssignedMSI",
      msaAppId: out("identity", "clientId"),
      msaAppMSIResourceId: expect.stringMatching(
        /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/id-openclaw-plain$/,
      ),
    });
    expect(managed.parameters.filter((name) => /bot/i.test(name))).toEqual([]);
    const registered = botOf(VARIANTS.appRegistrationBot);
    expect(registered.bot).toMatchObject({ msaAppType: "SingleTenant", msaAppId: out("botApp", "appId") });
    expect(registered.bot).not.toHaveProperty("msaAppMSIResourceId");
    expect(registered.parameters).toContain("botAppAppId");
  });

  it("Entra ids Shire applied become the parameters' defaults", () => {
    const plan = VARIANTS.appRegistrationBot;
    const template = slugTemplate(plan, {
      subscriptionId: SUBSCRIPTION,
      knownOutputs: {
        entraApp: { appId: "11111111-0000-4000-8000-000000000001" },
        "group:admins": { groupId: "g-admins" },
      },
    });
    expect(template.parameters.entraAppAppId).toMatchObject({
      type: "string",
      defaultValue: "11111111-0000-4000-8000-000000000001",
    });
    expect(template.parameters.groupAdminsGroupId).toMatchObject({ defaultValue: "g-admins" });
    expect(template.parameters.botAppAppId).not.toHaveProperty("defaultValue");
  });

  it("a literal that looks like an expression stays a literal", () => {
    const plan = planFor("odd", {}, false);
    const app = plan.nodes.find((node) => node.kind === "containerApp")!;
    const literalish = "[not an expression]";
    (app.desired as { tags: Record<string, string> }).tags = {
      ...(app.desired as { tags: Record<string, string> }).tags,
      odd: literalish,
    };
    const expected = expectedResources(plan);
    const deployed = deploy(slugTemplate(plan, { subscriptionId: SUBSCRIPTION }), expected);
    const resource = deployed.find((candidate) => candidate.type === "Microsoft.App/containerApps")!;
    expect((resource.body.tags as Record<string, string>).odd).toBe(literalish);
  });

  it("every output of every ARM kind reads back what its resource has", () => {
    // A probe in the slug's group whose tags read every output of every ARM node (a plan on one
    // subscription: a grant in another group would read the probe's group back, a cycle).
    const plan = planFor("probe", EVERYTHING, false);
    const group = plan.nodes.find((node) => node.kind === "resourceGroup")!.desired as DesiredOf<"resourceGroup">;
    const arm = plan.nodes.filter((node) => isArm(node.kind));
    const tags: Record<string, unknown> = {};
    for (const node of arm)
      for (const output of Object.keys((TEMPLATE_KINDS[node.kind] as { outputs: object }).outputs))
        tags[`${node.id}|${output}`] = { fromNode: node.id, output };
    plan.nodes.push({
      id: "probe",
      kind: "identity",
      title: "probe",
      dependsOn: arm.map((node) => node.id),
      desired: { resourceGroup: group.name, name: "probe", location: group.location, tags: tags as never },
    });
    const expected = expectedResources(plan);
    const deployed = deploy(slugTemplate(plan, { subscriptionId: SUBSCRIPTION }), expected);
    const probe = deployed.find((resource) => resource.id.endsWith("/userAssignedIdentities/probe"))!;
    const read = probe.body.tags as Record<string, unknown>;
    expect(Object.keys(read).length).toBeGreaterThan(40);
    for (const key of Object.keys(tags)) {
      const [nodeId, output] = key.split("|");
      const node = plan.nodes.find((candidate) => candidate.id === nodeId)!;
      const resource = expected.get(nodeId)![0];
      // What the activity returns: the resource's own name, place or id where the output is one.
      const literal: Record<string, unknown> = {
        resourceId: resource.id,
        name: node.kind === "resourceGroup" ? group.name : resource.id.split("/").at(-1),
        location: group.location,
        shareName: (node.desired as { shareName?: string }).shareName,
        secretName: (node.desired as { secretName?: string }).secretName,
        recovered: false,
      };
      expect(read[key], key).toEqual(output in literal ? literal[output] : out(nodeId, output));
    }
  });

  it("uses the api-versions Shire speaks", () => {
    const pinned = new Set(Object.values(API_VERSIONS));
    const template = slugTemplate(VARIANTS.everything, { subscriptionId: SUBSCRIPTION });
    const versions = JSON.stringify(template).match(/"apiVersion":"[^"]+"/g)!;
    for (const version of versions) expect(pinned).toContain(version.split('"')[3]);
  });
});
