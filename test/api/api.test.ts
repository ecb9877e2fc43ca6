/**
 * The HTTP API on the real local Functions host (durable engine, Azurite blob storage for the
 * records), with fake ensure activities: validation writes nothing, install answers 202 and is
 * recorded, a busy slug answers 409 naming the running operation, unknown things are 404s.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { OPERATIONS_CONTAINER, type OperationRecord, type SlugRecord } from "../../src/operations/records";
import { outputsReferencedFrom, resetFakeControl, type FakeControl } from "../fixtures/fake-activities";
import { useFunctionsHost } from "../fixtures/functions-host";
import { callApi } from "../e2e/harness";
import { deferred, until } from "../fixtures/wait";
import { principalHeader, type Role } from "../../src/api/auth";

const ALICE = "00000000-0000-4000-8000-0000000a11ce";

const SUBSCRIPTION = "00000000-0000-4000-8000-0000000000c1";
const TENANT = "00000000-0000-4000-8000-0000000000c2";

let control: FakeControl;
/** Gates a test holds; released after each test so a failed assertion cannot hang the host's stop. */
const gates: { resolve: () => void }[] = [];

const api = useFunctionsHost({
  app: "api-app",
  env: {
    // A real cloud name with ids: the plan needs only subscription, tenant and endpoints.
    SHIRE_CLOUD: "AzureCloud",
    AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
    AZURE_TENANT_ID: TENANT,
    SHIRE_BROKER_PRINCIPAL_ID: "6f1b5c3a-2d4e-4f60-8a71-9b0c1d2e3f40",
    // No directory to ask: the activities are fakes (the quota's preflight is tested on the sandbox).
    SHIRE_DIRECTORY_OBJECT_QUOTA: "unlimited",
    // Nor a subscription to count in (placement's preflight is tested on the sandbox, test/e2e/placement.test.ts).
    SHIRE_ENVIRONMENTS_PER_REGION: "unlimited",
    SHIRE_ROLE_ASSIGNMENTS_PER_SUBSCRIPTION: "unlimited",
    SHIRE_RETRY_FIRST_INTERVAL_MS: "20",
    SHIRE_RETRY_MAX_ATTEMPTS: "3",
    AzureWebJobsStorage: undefined, // the host starts Azurite (blob + queue) and sets it
  },
  removeStateDir: true,
});

afterEach(() => {
  for (const gate of gates.splice(0)) gate.resolve();
});

beforeEach(() => {
  control = resetFakeControl();
  // Every node returns the outputs its dependents reference (the plan's shape, not its values).
  const spec = validateInstallRequest("any-slug", {});
  if (!spec.ok) throw new Error("default spec invalid");
  const nodes = planSlug(spec.spec, {
    subscriptionId: SUBSCRIPTION,
    tenantId: TENANT,
    brokerPrincipalId: "b",
    vaultUri: (n) => `https://${n}/`,
  }).nodes;
  control.defaultOutputs = (nodeId) => outputsReferencedFrom(nodes, nodeId);
});

/** As an admin unless the test names another caller (a real cloud here: no development principal). */
const ADMIN = principalHeader("admin@contoso.com", ["Shire.Admin"]);
const call = (method: string, route: string, body?: string, headers: Record<string, string> = {}) =>
  callApi(api.host.url, method, route, body, { "x-ms-client-principal": ADMIN, ...headers });

async function blobNames(): Promise<string[]> {
  const container = BlobServiceClient.fromConnectionString(api.host.storageConnectionString!).getContainerClient(
    OPERATIONS_CONTAINER,
  );
  if (!(await container.exists())) return [];
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  return names;
}

async function waitForOperation(operationId: string, statuses: string[]): Promise<OperationRecord> {
  let last: OperationRecord | undefined;
  return until(
    async () => {
      const response = await call("GET", `operations/${operationId}`);
      last = response.json as unknown as OperationRecord;
      return response.status === 200 && statuses.includes(last.status) ? last : undefined;
    },
    () => `operation ${operationId} to reach ${statuses.join("/")}: ${JSON.stringify(last)}`,
    { timeoutMs: 30_000, intervalMs: 20 },
  );
}

describe("POST /api/slugs/{slug}/install: bad input changes nothing", () => {
  it("answers 400 listing every problem, starts nothing and writes no record", async () => {
    const before = await blobNames();
    const response = await call(
      "POST",
      "slugs/Bad_Slug/install",
      JSON.stringify({
        region: "mars",
        image: "ghcr.io/openclaw/openclaw:latest",
        colour: "blue",
        channels: { telegram: { enabled: true, botToken: "123:abc" } },
      }),
    );
    expect(response.status).toBe(400);
    const error = response.json.error as {
      code: string;
      message: string;
      details: { path: string; message: string }[];
    };
    expect(error.code).toBe("InvalidRequest");
    const paths = error.details.map((problem) => problem.path);
    for (const expected of ["slug", "region", "image", "colour", "channels.telegram.botToken"])
      expect(paths).toContain(expected);
    expect(error.message).toContain(`${error.details.length} problem`);
    // The secret the caller tried to send is not echoed back.
    expect(JSON.stringify(response.json)).not.toContain("123:abc");

    expect(api.host.engine.listInstances()).toEqual([]);
    expect(await blobNames()).toEqual(before);
    expect(control.log).toEqual([]);
  });

  it("answers 400 InvalidJson for a malformed body", async () => {
    const response = await call("POST", "slugs/acme/install", "{ not json");
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe("InvalidJson");
    expect(api.host.engine.getInstance("slug-acme")).toBeUndefined();
  });

  it("answers 503 NotConfigured when the Azure context is missing, and starts nothing", async () => {
    const cloud = process.env.SHIRE_CLOUD;
    process.env.SHIRE_CLOUD = "Sandbox"; // without SHIRE_SANDBOX_PORT / CA file
    try {
      const response = await call("POST", "slugs/noconfig/install", "{}");
      expect(response.status).toBe(503);
      expect(response.json.error).toMatchObject({ code: "NotConfigured" });
      expect((response.json.error as { message: string }).message).toContain("SHIRE_SANDBOX_PORT");
    } finally {
      process.env.SHIRE_CLOUD = cloud;
    }
    expect(api.host.engine.getInstance("slug-noconfig")).toBeUndefined();
    expect((await blobNames()).filter((name) => name.includes("noconfig"))).toEqual([]);
  });
});

describe("install: 202, the record, 409 while running, the slug record", () => {
  it("records the operation, shows live steps, refuses a second operation, then records the result", async () => {
    const hold = deferred();
    gates.push(hold);
    control.behaviour["acme/resourceGroup"] = { gate: hold.promise };

    const accepted = await call("POST", "slugs/acme/install", "{}", {
      "x-ms-client-principal": principalHeader("alice@contoso.com", ["Shire.Operator"], ALICE),
    });
    expect(accepted.status).toBe(202);
    const { operationId, statusUrl } = accepted.json as { operationId: string; statusUrl: string };
    expect(statusUrl).toBe(`${api.host.url}/api/operations/${operationId}`);
    expect(accepted.headers.get("location")).toBe(statusUrl);

    // While resourceGroup is held: the record is there, running, with the live step states.
    await until(() => control.log.includes("start:resourceGroup"), "resourceGroup to start", { intervalMs: 5 });
    const running = await call("GET", `operations/${operationId}`);
    expect(running.status).toBe(200);
    const record = running.json as unknown as OperationRecord;
    expect(record).toMatchObject({
      id: operationId,
      slug: "acme",
      kind: "install",
      actor: `alice@contoso.com (${ALICE})`,
      status: "running",
      instanceId: "slug-acme",
    });
    expect(record.request).toMatchObject({ slug: "acme", region: "westeurope" });
    const resourceGroupStep = record.steps.find((step) => step.id === "resourceGroup")!;
    expect(resourceGroupStep).toMatchObject({
      status: "running",
      title: "Resource group claw-acme",
      kind: "resourceGroup",
    });
    expect(resourceGroupStep.startedAt).toBeDefined();
    expect(record.steps.find((step) => step.id === "keyVault")?.status).toBe("pending");
    expect(record.message).toMatch(/^\d+\/\d+ steps done, [1-9]\d* running\.$/);

    // A second operation on the busy slug is refused and names the running one.
    const busy = await call("POST", "slugs/acme/install", "{}");
    expect(busy.status).toBe(409);
    const busyError = busy.json.error as {
      code: string;
      message: string;
      details: { operationId: string; kind: string };
    };
    expect(busyError.code).toBe("OperationInProgress");
    expect(busyError.message).toContain(operationId);
    expect(busyError.message).toContain("install");
    expect(busyError.details).toEqual({ operationId, kind: "install" });
    const listed = await call("GET", "operations?slug=acme");
    expect((listed.json.operations as OperationRecord[]).map((operation) => operation.id)).toEqual([operationId]);

    const installing = await call("GET", "slugs/acme");
    expect(installing.json).toMatchObject({
      slug: "acme",
      state: "installing",
      version: null,
      lastOperationId: operationId,
      resourceGroup: "claw-acme",
    });

    hold.resolve();
    const done = await waitForOperation(operationId, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.steps.length).toBeGreaterThan(10);
    for (const step of done.steps) {
      expect(step.status).toBe("done");
      expect(step.title).toBeTruthy();
      expect(step.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(done.actor).toBe(`alice@contoso.com (${ALICE})`);

    const slug = (await call("GET", "slugs/acme")).json as unknown as SlugRecord;
    expect(slug).toMatchObject({
      slug: "acme",
      state: "installed",
      lastOperationId: operationId,
      version: (record.request as { image: string }).image,
      url: "https://containerApp.fqdn",
    });
    const slugs = (await call("GET", "slugs")).json.slugs as SlugRecord[];
    expect(slugs.map((s) => s.slug)).toContain("acme");

    // Once finished, the slug takes a new operation.
    const again = await call("POST", "slugs/acme/install", "{}");
    expect(again.status).toBe(202);
    const second = (again.json as { operationId: string }).operationId;
    expect(second).not.toBe(operationId);
    await waitForOperation(second, ["succeeded"]);
    const history = (await call("GET", "operations?slug=acme")).json.operations as OperationRecord[];
    expect(history.map((operation) => operation.id).sort()).toEqual([operationId, second].sort());
  });

  it("records a failed install naming the failed step, with dependents skipped and the rest done", async () => {
    control.behaviour["fails/keyVault"] = {
      permanent: { code: "VaultAlreadyExists", message: "The vault name kv-fails is already in use." },
    };
    const accepted = await call("POST", "slugs/fails/install", "{}");
    expect(accepted.status).toBe(202);
    const done = await waitForOperation((accepted.json as { operationId: string }).operationId, [
      "succeeded",
      "failed",
    ]);
    expect(done.status).toBe("failed");
    expect(done.message).toContain("keyVault");
    expect(done.message).toContain("VaultAlreadyExists");
    const byId = Object.fromEntries(done.steps.map((step) => [step.id, step]));
    expect(byId.keyVault).toMatchObject({
      status: "failed",
      error: "VaultAlreadyExists: The vault name kv-fails is already in use.",
    });
    expect(byId["vaultAccess:broker"].status).toBe("skipped");
    expect(byId.containerApp.status).toBe("skipped");
    expect(byId.storageAccount.status).toBe("done");
    expect(byId.logAnalytics.status).toBe("done");
    expect(control.attemptsBySlug["fails/keyVault"]).toBe(1);
    const slug = (await call("GET", "slugs/fails")).json;
    expect(slug).toMatchObject({ state: "failed", version: null });
  });
});

describe("stopping an operation", () => {
  /** Wait until the operation's record shows this step in this state. */
  async function stepReaches(operationId: string, stepId: string, status: string): Promise<OperationRecord> {
    let record: OperationRecord | undefined;
    return until(
      async () => {
        record = (await call("GET", `operations/${operationId}`)).json as unknown as OperationRecord;
        return record.steps.find((step) => step.id === stepId)?.status === status ? record : undefined;
      },
      () => `${stepId} to be ${status}: ${JSON.stringify(record)}`,
      { attempts: 1_000, intervalMs: 5 },
    );
  }

  it("terminated: its running step finishes its attempt and stops, the records settle canceled, then the slug takes a new operation", async () => {
    const hold = deferred();
    gates.push(hold);
    control.behaviour["stopped/resourceGroup"] = { gate: hold.promise };
    const accepted = await call("POST", "slugs/stopped/install", "{}");
    const { operationId } = accepted.json as { operationId: string };
    await until(() => control.log.includes("start:resourceGroup"), "resourceGroup to start", { intervalMs: 5 });
    await stepReaches(operationId, "resourceGroup", "running");
    expect(api.host.engine.terminate("slug-stopped", "operator stopped it")).toBe(true);

    const record = (await call("GET", `operations/${operationId}`)).json as unknown as OperationRecord;
    expect(record.status).toBe("canceled");
    expect(record.message).toContain("terminated");
    // Its step's activity is still in flight: shown as it is, and the slug is not free yet.
    expect(record.steps.find((step) => step.id === "resourceGroup")?.status).toBe("running");
    const early = await call("POST", "slugs/stopped/install", "{}");
    expect(early.status).toBe(409);
    expect((early.json.error as { code: string }).code).toBe("OperationStopping");

    hold.resolve();
    // The attempt ends (its write is done), the step does not try again, and the records settle.
    const settled = await stepReaches(operationId, "resourceGroup", "done");
    expect(settled.status).toBe("canceled");
    // Steps started before the terminate finished their one attempt; the rest never started.
    for (const step of settled.steps.filter((step) => step.id !== "resourceGroup"))
      expect(["done", "canceled"], `${step.id}: ${step.status}`).toContain(step.status);
    expect(settled.steps.find((step) => step.id === "keyVault")?.status).toBe("canceled");
    expect(control.attempts.resourceGroup).toBe(1);
    // Nothing starts once the operation has settled.
    const logAtSettle = control.log.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(control.log.slice(logAtSettle)).toEqual([]);
    expect((await call("GET", "slugs/stopped")).json).toMatchObject({ state: "failed", lastOperationId: operationId });

    const again = await call("POST", "slugs/stopped/install", "{}");
    expect(again.status).toBe(202);
    await waitForOperation((again.json as { operationId: string }).operationId, ["succeeded"]);
    const old = (await call("GET", `operations/${operationId}`)).json as unknown as OperationRecord;
    expect(old.status).toBe("canceled");
  });

  it("POST /api/operations/{id}/cancel: nothing new starts, running steps stop before their next attempt, the record says canceled with each step's last state", async () => {
    const hold = deferred();
    gates.push(hold);
    control.behaviour["halt/resourceGroup"] = { gate: hold.promise };
    // A step that keeps failing transiently: it must stop at its next check, not run its whole budget.
    const busy = {
      code: "ServerBusy",
      message: "503 busy",
      retryable: true,
      retryClass: "transient" as const,
      retryAfterMs: 1_000,
    };
    control.behaviour["halt/group:admins"] = { failures: [busy, busy, busy] };
    const { operationId } = (await call("POST", "slugs/halt/install", "{}")).json as { operationId: string };
    await stepReaches(operationId, "resourceGroup", "running");
    await until(() => (control.attemptsBySlug["halt/group:admins"] ?? 0) >= 1, "group:admins to fail once", {
      intervalMs: 5,
    });

    const canceled = await call("POST", `operations/${operationId}/cancel`);
    expect(canceled.status).toBe(202);
    expect(canceled.json).toMatchObject({ operationId, action: "cancel" });
    hold.resolve();
    const record = await waitForOperation(operationId, ["canceled"]);
    const byId = Object.fromEntries(record.steps.map((step) => [step.id, step]));
    expect(byId.resourceGroup.status).toBe("done");
    expect(byId["group:admins"].status).toBe("canceled");
    expect(control.attemptsBySlug["halt/group:admins"]).toBeLessThan(3);
    expect(byId.keyVault).toMatchObject({ status: "canceled", error: "canceled before it started" });
    expect(record.message).toMatch(/canceled/);
    expect((await call("GET", "slugs/halt")).json).toMatchObject({ state: "failed" });
    // Nothing runs after the record says canceled.
    const attempts = { ...control.attemptsBySlug };
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(control.attemptsBySlug).toEqual(attempts);
    // A finished operation has nothing to cancel.
    expect((await call("POST", `operations/${operationId}/cancel`)).status).toBe(409);
  });
});

describe("authorization", () => {
  /** Every route and the app role it needs (DESIGN.md: Reader GET, Operator install, rotate and secrets, Admin teardown and cancel). */
  const ROUTES: { method: string; route: string; role: Role; body?: string }[] = [
    { method: "GET", route: "slugs", role: "Shire.Reader" },
    { method: "GET", route: "slugs/authz", role: "Shire.Reader" },
    { method: "GET", route: "slugs/authz/plan", role: "Shire.Reader" },
    { method: "POST", route: "slugs/authz/plan", role: "Shire.Reader", body: "{}" },
    { method: "GET", route: "slugs/authz/template", role: "Shire.Reader" },
    { method: "GET", route: "operations", role: "Shire.Reader" },
    { method: "GET", route: "operations/authz.20261204T000000Z.00", role: "Shire.Reader" },
    { method: "POST", route: "slugs/authz/install", role: "Shire.Operator", body: "{bad json" },
    { method: "POST", route: "slugs/authz/rotate", role: "Shire.Operator", body: "{bad json" },
    { method: "PUT", route: "slugs/authz/secrets/telegram-bot-token", role: "Shire.Operator", body: "a-token" },
    { method: "POST", route: "slugs/authz/teardown", role: "Shire.Admin", body: "{}" },
    { method: "POST", route: "slugs/authz/teardown/cancel", role: "Shire.Admin" },
    { method: "POST", route: "operations/authz.20261204T000000Z.00/cancel", role: "Shire.Admin" },
  ];
  const below: Record<Role, Role | undefined> = {
    "Shire.Reader": undefined,
    "Shire.Operator": "Shire.Reader",
    "Shire.Admin": "Shire.Operator",
  };

  it("refuses a missing principal (401) and a role too low (403), and lets the right role through", async () => {
    for (const { method, route, role, body } of ROUTES) {
      const anonymous = await callApi(api.host.url, method, route, body);
      expect(anonymous.status, `${method} ${route} without a principal`).toBe(401);
      expect((anonymous.json.error as { code: string }).code).toBe("Unauthenticated");
      const lower = below[role];
      if (lower) {
        const refused = await call(method, route, body, { "x-ms-client-principal": principalHeader("low", [lower]) });
        expect(refused.status, `${method} ${route} as ${lower}`).toBe(403);
        expect(refused.json.error).toMatchObject({ code: "Forbidden", details: { required: role } });
      }
      const allowed = await call(method, route, body, { "x-ms-client-principal": principalHeader("right", [role]) });
      expect([401, 403], `${method} ${route} as ${role}: ${JSON.stringify(allowed.json)}`).not.toContain(
        allowed.status,
      );
    }
    // A principal header that is not one is refused, not read as anonymous.
    const garbage = await callApi(api.host.url, "GET", "slugs", undefined, {
      "x-ms-client-principal": "not base64 json",
    });
    expect(garbage.status).toBe(401);
    expect((garbage.json.error as { code: string }).code).toBe("InvalidPrincipal");
  });
});

describe("GET /api/slugs/{slug}/template", () => {
  it("exports an installed slug's footprint with the Entra ids it applied; 404 for a slug Shire does not know", async () => {
    const accepted = await call("POST", "slugs/export/install", "{}");
    expect(accepted.status).toBe(202);
    await waitForOperation((accepted.json as { operationId: string }).operationId, ["succeeded"]);

    const response = await call("GET", "slugs/export/template", undefined, {
      "x-ms-client-principal": principalHeader("reader", ["Shire.Reader"]),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="claw-export.json"');
    const template = response.json as {
      $schema: string;
      parameters: Record<string, { type: string; defaultValue?: string }>;
      resources: { type: string; name: string; resourceGroup?: string }[];
    };
    expect(template.$schema).toContain("subscriptionDeploymentTemplate.json");
    expect(template.resources.map((resource) => `${resource.type} ${resource.name}`)).toEqual([
      "Microsoft.Resources/resourceGroups claw-export",
      "Microsoft.Resources/deployments shire-export",
    ]);
    // The fake activities' outputs, as the applied record holds them: what Shire last applied.
    expect(template.parameters.entraAppAppId).toMatchObject({ type: "string", defaultValue: "entraApp.appId" });
    expect(template.parameters.secretGatewayToken).toEqual(expect.objectContaining({ type: "securestring" }));
    expect(template.parameters.secretGatewayToken).not.toHaveProperty("defaultValue");

    const unknown = await call("GET", "slugs/nosuch/template");
    expect(unknown.status).toBe(404);
    expect((unknown.json.error as { code: string }).code).toBe("SlugNotFound");
    expect((await call("GET", "slugs/Not_A_Slug/template")).status).toBe(400);
  });
});

describe("404s", () => {
  it("answers 404 for unknown operations and slugs", async () => {
    for (const route of [
      "operations/op-unknown",
      "operations/nosuch.20260101T000000Z.abcdef01",
      "operations?slug=nosuch",
      "slugs/nosuch",
      "slugs/NOT_A_SLUG",
    ]) {
      const response = await call("GET", route);
      expect(response.status, route).toBe(404);
      expect(typeof (response.json.error as { code: string }).code, route).toBe("string");
    }
    const invalid = await call("GET", "operations?slug=NOT_A_SLUG");
    expect(invalid.status).toBe(400);
  });
});
