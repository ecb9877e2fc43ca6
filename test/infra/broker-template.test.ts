/**
 * The broker's own deployment (infra/broker/azuredeploy.json): it validates against the official
 * ARM schemas (each resource by its type and api-version, expressions where it uses them), uses
 * every parameter and variable it declares, grants only built-in roles named truthfully, lets the
 * broker grant exactly the roles slugs need and nothing else, sets every setting the broker reads,
 * and puts Entra in front of the API. Each check is shown to catch its mistake on a mutated copy.
 */
import { placementSettingsFromEnv } from "../../src/api/placement";
import { WAVE_QUEUE } from "../../src/api/waves";
import { rotationPolicyFromEnv } from "../../src/operations/rotation-policy";
import { directoryQuotaFromEnv } from "../../src/api/directory-quota";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { itWithSchemas } from "../sandbox/arm-helpers";
import {
  BUILT_IN_ROLES,
  ROLE_ID_NAMES,
  allTemplateProblems,
  azureFactsRoles,
  roleAssignmentsIn,
  roleGuidOf,
  roleProblems,
  templateValidator,
  templatesIn,
  usageProblems,
} from "../fixtures/arm-template";
import { ROLE_IDS } from "../../src/model/names";
import { planSlug, type PlanContext } from "../../src/model/plan";
import { validateInstallRequest, validationSettingsFromEnv } from "../../src/model/validate";
import { teardownGraceMs } from "../../src/api/teardown";
import { planContextFromEnv } from "../../src/api/plan-context";

type Json = Record<string, unknown>;

const ROOT = path.join(__dirname, "..", "..");
const TEMPLATE_FILE = path.join(ROOT, "infra", "broker", "azuredeploy.json");
const load = (): Json => JSON.parse(fs.readFileSync(TEMPLATE_FILE, "utf8")) as Json;

/** The nested template that deploys into the broker's resource group. */
function inner(template: Json): Json {
  return templatesIn(template).find(({ template: nested }) => nested !== template)!.template;
}
const resourceOf = (template: Json, type: string, name?: RegExp) =>
  ((template.resources as Json[]) ?? []).find(
    (resource) => resource.type === type && (!name || name.test(String(resource.name))),
  )!;

describe("the broker's deployment template", () => {
  itWithSchemas("validates: schemas, expressions, parameters and variables, built-in roles", () => {
    expect(allTemplateProblems(load())).toEqual([]);
  });

  itWithSchemas("a wrong api-version, an unknown property or a bad value is a schema problem", () => {
    const wrongVersion = load();
    resourceOf(inner(wrongVersion), "Microsoft.Web/sites").apiVersion = "2023-12-01";
    expect(templateValidator().templateProblems(wrongVersion).join("\n")).toMatch(
      /Microsoft\.Web\/sites.*no schema for Microsoft\.Web\/sites at api-version '2023-12-01'.*versions with one: 2024-11-01/,
    );

    const noSuchVersion = load();
    resourceOf(noSuchVersion, "Microsoft.Authorization/roleAssignments").apiVersion = "2022-04-02";
    expect(templateValidator().templateProblems(noSuchVersion).join("\n")).toMatch(
      /no schema for Microsoft\.Authorization\/roleAssignments at api-version '2022-04-02'/,
    );

    // The SDK's name for a property the REST API calls otherwise (what closed objects are for).
    const sdkName = load();
    const storage = resourceOf(inner(sdkName), "Microsoft.Storage/storageAccounts");
    const properties = storage.properties as Json;
    properties.enableHttpsTrafficOnly = properties.supportsHttpsTrafficOnly;
    delete properties.supportsHttpsTrafficOnly;
    expect(templateValidator().templateProblems(sdkName).join("\n")).toMatch(
      /must NOT have additional properties \('enableHttpsTrafficOnly'\)/,
    );

    // Inside a config resource whose kind only its name tells (authsettingsV2 among many).
    const typo = load();
    const auth = resourceOf(inner(typo), "Microsoft.Web/sites/config", /authsettingsV2/).properties as Json;
    (auth.globalValidation as Json).requireAuthentcation = true;
    expect(templateValidator().templateProblems(typo).join("\n")).toMatch(/'requireAuthentcation'/);

    const badValue = load();
    const runtime = ((resourceOf(inner(badValue), "Microsoft.Web/sites").properties as Json).functionAppConfig as Json)
      .runtime as Json;
    runtime.name = "nodejs";
    expect(templateValidator().templateProblems(badValue).join("\n")).toMatch(/runtime\/name must be equal to one of/);
  });

  it("a parameter or variable never used, or used but not declared, is a problem", () => {
    const template = load();
    (template.parameters as Json).unusedKnob = { type: "string", defaultValue: "" };
    const nested = inner(template);
    (nested.variables as Json).forgotten = "x";
    resourceOf(nested, "Microsoft.Web/serverfarms").location = "[parameters('region')]";
    expect(usageProblems(template)).toEqual(
      expect.arrayContaining([
        "template: parameters 'unusedKnob' is never used",
        expect.stringMatching(/variables 'forgotten' is never used/),
        expect.stringMatching(/parameters\('region'\) is not declared/),
      ]),
    );
  });

  it("role ids are the built-in roles the template names them as", () => {
    expect(roleProblems(load())).toEqual([]);
    const names = roleAssignmentsIn(load()).map(({ resource, variables }) => {
      const guid = roleGuidOf(resource, variables);
      return Object.entries(BUILT_IN_ROLES).find(([, id]) => id === guid)![0];
    });
    expect(names.sort()).toEqual(
      [
        "Contributor",
        "Monitoring Metrics Publisher",
        "Role Based Access Control Administrator",
        "Storage Blob Data Owner",
        "Storage Queue Data Contributor",
        "Storage Table Data Contributor",
      ].sort(),
    );

    // Another built-in role's id under Contributor's name, and an id that is no built-in role.
    const swapped = load();
    ((swapped.variables as Json).roles as Json).Contributor = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    expect(roleProblems(swapped).join("\n")).toMatch(
      /variables\.roles\['Contributor'\] is 8e3af657.*the built-in role Contributor is b24988ac/,
    );
    const invented = load();
    const assignment = resourceOf(inner(invented), "Microsoft.Authorization/roleAssignments");
    (assignment.properties as Json).roleDefinitionId =
      "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '11111111-2222-4333-8444-555555555555')]";
    expect(roleProblems(invented).join("\n")).toMatch(/11111111-2222-4333-8444-555555555555 is not a built-in role/);
  });

  it("the built-in role table agrees with azure-facts §B and with the roles slugs are granted", () => {
    for (const [key, id] of Object.entries(ROLE_IDS))
      expect(BUILT_IN_ROLES[ROLE_ID_NAMES[key as keyof typeof ROLE_IDS]]).toBe(id);
    const facts = azureFactsRoles();
    if (!facts) return; // no ../shared/reference here: the ids above are then the only check
    expect(Object.keys(facts).length).toBeGreaterThanOrEqual(8);
    for (const [name, id] of Object.entries(facts)) expect(BUILT_IN_ROLES[name], name).toBe(id);
  });
});

/** The condition on the broker's Role Based Access Control Administrator assignment, read back. */
function grantCondition(template: Json) {
  const admin = roleAssignmentsIn(template).find(
    ({ resource, variables }) =>
      roleGuidOf(resource, variables) === BUILT_IN_ROLES["Role Based Access Control Administrator"],
  )!;
  const properties = admin.resource.properties as Json;
  const text = String(properties.condition).replace(/^\[variables\('(\w+)'\)\]$/, (_, name: string) =>
    String(admin.variables[name]),
  );
  const guidSets = [...text.matchAll(/RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{([^}]*)\}/g)].map(
    (match) => new Set(match[1].split(",").map((guid) => guid.trim().toLowerCase())),
  );
  const types = /PrincipalType\] ForAnyOfAnyValues:StringEqualsIgnoreCase \{([^}]*)\}/.exec(text)?.[1];
  return {
    version: properties.conditionVersion,
    text,
    guidSets,
    principalTypes: new Set((types ?? "").split(",").map((type) => type.trim().replace(/^'|'$/g, ""))),
  };
}

/** Every principal type a slug's plan grants roles to, over the install variants. */
function grantedPrincipalTypes(): Set<string> {
  const context: PlanContext = {
    subscriptionId: "00000000-0000-4000-8000-0000000000c1",
    tenantId: "00000000-0000-4000-8000-0000000000c2",
    brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
    sharedRegistry: {
      resourceId: "/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerRegistry/registries/acr",
      loginServer: "acr.azurecr.io",
    },
  };
  const types = new Set<string>();
  for (const body of [{}, { channels: { teams: { enabled: true } } }]) {
    const spec = validateInstallRequest("granted", body);
    if (!spec.ok) throw new Error(JSON.stringify(spec.problems));
    for (const node of planSlug(spec.spec, context).nodes)
      if (node.kind === "roleAssignment") types.add(String(node.desired.principalType));
  }
  return types;
}

describe("the broker's own roles", () => {
  it("may grant exactly the roles slugs are granted, to the principal types they go to, and delete only those", () => {
    const condition = grantCondition(load());
    expect(condition.version).toBe("2.0");
    expect(condition.text).toContain("ActionMatches{'Microsoft.Authorization/roleAssignments/write'}");
    expect(condition.text).toContain("ActionMatches{'Microsoft.Authorization/roleAssignments/delete'}");
    const granted = new Set(Object.values(ROLE_IDS));
    expect(condition.guidSets).toHaveLength(2); // write (request) and delete (resource)
    for (const set of condition.guidSets) expect(set).toEqual(granted);
    const used = grantedPrincipalTypes();
    for (const type of used) expect(condition.principalTypes, `plans grant roles to ${type}`).toContain(type);
    expect([...condition.principalTypes].sort()).toEqual([...used].sort());
  });

  it("a role slugs need that the condition leaves out is caught", () => {
    const template = load();
    const variables = template.variables as Json;
    variables.grantCondition = String(variables.grantCondition).replaceAll(`, ${ROLE_IDS.acrPull}`, "");
    const condition = grantCondition(template);
    expect(condition.guidSets.every((set) => set.has(ROLE_IDS.acrPull))).toBe(false);
  });
});

/** Settings the broker's code reads (`env.X`, or `env, "X"` to a parser: upper case, or the host's AzureWebJobs*; `x.env.filter` is a container's list), outside the local host and the sandbox. */
function settingsReadByShire(): Set<string> {
  const found = new Set<string>();
  const visit = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!["runtime", "sandbox"].includes(entry.name) || dir !== path.join(ROOT, "src")) visit(file);
      } else if (entry.name.endsWith(".ts"))
        for (const match of fs
          .readFileSync(file, "utf8")
          .matchAll(/\benv(?:\.|,\s*")([A-Z][A-Z0-9_]*|AzureWebJobs\w*)\b/g))
          found.add(match[1]);
    }
  };
  for (const dir of ["src", "activities", "orchestrations"]) visit(path.join(ROOT, dir));
  return found;
}

/** Settings the code reads that a deployed broker must not have, and why. */
const NOT_DEPLOYED: Record<string, string> = {
  AzureWebJobsStorage: "a connection string (account key): the deployment uses the identity-based form",
  SHIRE_AUTH: "the local host's development principal; on a real cloud there is never one",
  SHIRE_URL: "the shire CLI's broker address, on an operator's machine",
  SHIRE_TOKEN: "the shire CLI's bearer token, on an operator's machine",
  SHIRE_SANDBOX_PORT: "the sandbox (npm start)",
  SHIRE_SANDBOX_CA_FILE: "the sandbox (npm start)",
  SHIRE_RETRY_FIRST_INTERVAL_MS: "a retry policy for tests and demos",
  SHIRE_RETRY_MAX_INTERVAL_MS: "a retry policy for tests and demos",
  SHIRE_RETRY_MAX_ATTEMPTS: "a retry policy for tests and demos",
  SHIRE_RETRY_MAX_PROPAGATION_ATTEMPTS: "a retry policy for tests and demos",
  SHIRE_RETRY_MAX_PROPAGATION_INTERVAL_MS: "a retry policy for tests and demos",
  SHIRE_OPERATION_POLL_INTERVAL_MS: "the sandbox on a compressed clock (the install bench); refused against Azure",
  SHIRE_UPGRADE_GATE_TIMEOUT_MS: "tests and demos shorten the health gate; a deployment keeps its default (10 min)",
  SHIRE_UPGRADE_GATE_POLL_MS: "tests and demos look at a new revision more often",
  SHIRE_WAVE_POLL_MS: "tests and demos look at a wave's upgrades more often",
};
/** Settings the deployment sets that the Functions host or an Azure SDK reads, not Shire's code. */
const READ_BY_THE_PLATFORM = [
  "AzureWebJobsStorage__credential", // the host: the identity-based connection's credential
  "APPLICATIONINSIGHTS_CONNECTION_STRING", // the host's telemetry
  "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", // ...with Entra authentication
  "AZURE_CLIENT_ID", // DefaultAzureCredential: which user-assigned identity
];

describe("the broker's app settings", () => {
  const appSettings = () =>
    resourceOf(inner(load()), "Microsoft.Web/sites/config", /appsettings/).properties as Record<string, string>;

  it("sets every setting Shire reads (but the local ones), and nothing nobody reads", () => {
    const read = settingsReadByShire();
    const set = new Set(Object.keys(appSettings()));
    for (const name of read)
      if (!(name in NOT_DEPLOYED)) expect(set, `${name} is read by Shire but not deployed`).toContain(name);
    for (const name of Object.keys(NOT_DEPLOYED)) expect(set, `${name}: ${NOT_DEPLOYED[name]}`).not.toContain(name);
    for (const name of set)
      expect(read.has(name) || READ_BY_THE_PLATFORM.includes(name), `${name} is set but nothing reads it`).toBe(true);
  });

  it("optional settings left empty mean their defaults", () => {
    const empty = Object.fromEntries(
      Object.entries(appSettings())
        .filter(([, value]) => /^\[parameters\('\w+'\)\]$/.test(value))
        .filter(([name]) => name.startsWith("SHIRE_"))
        .map(([name]) => [name, ""]),
    );
    expect(Object.keys(empty).sort()).toEqual(
      [
        "SHIRE_ALLOWED_REGISTRIES",
        "SHIRE_DEFAULT_IMAGE",
        "SHIRE_DEFAULT_REGION",
        "SHIRE_NGINX_IMAGE",
        "SHIRE_SHARED_REGISTRY_ID",
        "SHIRE_SHARED_REGISTRY_LOGIN_SERVER",
        "SHIRE_TEARDOWN_GRACE_SECONDS",
        "SHIRE_DRIFT_SCHEDULE",
        "SHIRE_DRIFT_READS_PER_SECOND",
        "SHIRE_DRIFT_READ_BURST",
        "SHIRE_ROTATION_SCHEDULE",
        "SHIRE_ROTATION_MAX_AGE",
        "SHIRE_ROTATION_GRACE_SECONDS",
        "SHIRE_ROTATION_MAX_PARALLEL",
        "SHIRE_ROTATION_START_INTERVAL_MS",
        "SHIRE_DIRECTORY_OBJECT_QUOTA",
        "SHIRE_PLACEMENT_POOL",
        "SHIRE_ENVIRONMENTS_PER_REGION",
        "SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION",
      ].sort(),
    );
    expect(validationSettingsFromEnv(empty)).toEqual(validationSettingsFromEnv({}));
    expect(teardownGraceMs(empty)).toBe(teardownGraceMs({}));
    expect(rotationPolicyFromEnv(empty)).toEqual(rotationPolicyFromEnv({}));
    expect(directoryQuotaFromEnv(empty)).toBe(directoryQuotaFromEnv({}));
    expect(placementSettingsFromEnv("00000000-0000-4000-8000-0000000000c1", empty)).toEqual(
      placementSettingsFromEnv("00000000-0000-4000-8000-0000000000c1", {}),
    );
    const cloud = {
      SHIRE_CLOUD: "AzureCloud",
      AZURE_SUBSCRIPTION_ID: "00000000-0000-4000-8000-0000000000c1",
      AZURE_TENANT_ID: "00000000-0000-4000-8000-0000000000c2",
      SHIRE_BROKER_PRINCIPAL_ID: "00000000-0000-4000-8000-0000000000b0",
    };
    const { vaultUri: _withEmpty, ...withEmpty } = planContextFromEnv({ ...cloud, ...empty });
    const { vaultUri: _without, ...without } = planContextFromEnv(cloud);
    expect(withEmpty).toEqual(without);
  });

  it("creates the queue waves arrive on (a queue trigger does not create it; a release pipeline writes to it)", () => {
    const template = inner(load());
    const queue = resourceOf(template, "Microsoft.Storage/storageAccounts/queueServices/queues");
    expect(queue.name).toBe("[format('{0}/default/{1}', parameters('storageAccountName'), variables('waveQueue'))]");
    expect((template.variables as Json).waveQueue).toBe(WAVE_QUEUE);
  });

  it("puts Entra in front of every route and validates tokens for the API app registration", () => {
    const auth = resourceOf(inner(load()), "Microsoft.Web/sites/config", /authsettingsV2/).properties as Json;
    expect(auth.platform).toEqual({ enabled: true });
    expect(auth.globalValidation).toEqual({ requireAuthentication: true, unauthenticatedClientAction: "Return401" });
    const entra = (auth.identityProviders as Json).azureActiveDirectory as Json;
    expect(entra.enabled).toBe(true);
    expect((entra.registration as Json).clientId).toBe("[parameters('authClientId')]");
    expect((entra.validation as Json).allowedAudiences).toEqual(["[format('api://{0}', parameters('authClientId'))]"]);
    const site = resourceOf(inner(load()), "Microsoft.Web/sites").properties as Json;
    expect(site.httpsOnly).toBe(true);
    expect((site.functionAppConfig as Json).runtime).toEqual({ name: "node", version: "22" });
  });
});
