/**
 * What Shire puts in the Container App for the gateway, beyond routing: the readiness probe by
 * OpenClaw version, the seed init container's resources, the auth rate limit in the seed config,
 * no environment nothing reads, and the sign-in's audiences.
 */
import { describe, expect, it } from "vitest";
import { planSlug, validateInstallRequest, type PlanContext } from "../../src/model";
import { GATEWAY_AUTH_RATE_LIMIT, SEED_RESOURCES, readinessProbePath } from "../../src/model/openclaw";

const context: PlanContext = {
  subscriptionId: "00000000-0000-4000-8000-000000000001",
  tenantId: "00000000-0000-4000-8000-0000000000aa",
  brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
  vaultUri: (name) => `https://${name}.vault.azure.net/`,
};

interface Container {
  name: string;
  env: { name: string; value?: unknown; secretRef?: string }[];
  resources?: { cpu: number; memory: string };
  probes?: { type: string; httpGet: { path: string; port: number } }[];
}

function containerApp(body: unknown = {}) {
  const result = validateInstallRequest("demo", body);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const plan = planSlug(result.spec, context);
  return {
    plan,
    app: plan.nodes.find((node) => node.id === "containerApp")!.desired as {
      template: { initContainers: Container[]; containers: Container[] };
    },
  };
}

describe("the gateway's readiness probe", () => {
  it.each([
    ["ghcr.io/openclaw/openclaw:2026.9.6", "/startupz"],
    ["ghcr.io/openclaw/openclaw:2026.8.1", "/startupz"],
    ["ghcr.io/openclaw/openclaw:2026.10.2-slim", "/startupz"],
    ["myregistry.azurecr.io/openclaw/openclaw:2026.9.6-shire", "/startupz"],
    [`ghcr.io/openclaw/openclaw:2026.9.6@sha256:${"a".repeat(64)}`, "/startupz"],
    ["ghcr.io/openclaw/openclaw:2026.7.1-2", "/readyz"],
    ["ghcr.io/openclaw/openclaw:2025.12.40", "/readyz"],
    [`ghcr.io/openclaw/openclaw@sha256:${"a".repeat(64)}`, "/readyz"],
    ["ghcr.io/openclaw/openclaw:latest", "/readyz"],
  ])("%s: %s", (image, path) => {
    expect(readinessProbePath(image)).toBe(path);
  });

  const readyPathOf = (openclaw: Container) => openclaw.env.find((entry) => entry.name === "SHIRE_GATEWAY_READY_PATH");

  it("asks /startupz for the default image through the supervisor's listener, and the other probes stay on /healthz", () => {
    const [openclaw] = containerApp().app.template.containers;
    expect(openclaw.probes!.map((probe) => `${probe.type}:${probe.httpGet.port}${probe.httpGet.path}`)).toEqual([
      "Startup:18789/healthz",
      "Liveness:18789/healthz",
      "Readiness:18790/ready",
    ]);
    expect(readyPathOf(openclaw)?.value).toBe("/startupz");
  });

  it("asks /readyz for an image without a version", () => {
    const image = `ghcr.io/openclaw/openclaw@sha256:${"b".repeat(64)}`;
    const [openclaw] = containerApp({ image }).app.template.containers;
    expect(readyPathOf(openclaw)?.value).toBe("/readyz");
  });
});

describe("the gateway's Container App", () => {
  it("gives the seed init container explicit resources, an allowed Consumption pair", () => {
    const [seed] = containerApp().app.template.initContainers;
    expect(seed.name).toBe("seed-config");
    expect(seed.resources).toEqual(SEED_RESOURCES);
    expect(Number.parseFloat(seed.resources!.memory)).toBe(seed.resources!.cpu * 2);
    expect(seed.resources!.cpu % 0.25).toBe(0);
  });

  it("seeds the auth rate limit (openclaw security audit: gateway.auth_no_rate_limit)", () => {
    const [seed] = containerApp().app.template.initContainers;
    const config = seed.env.find((entry) => entry.name === "OPENCLAW_SEED_CONFIG")!.value as { format: string };
    const parsed = JSON.parse(config.format.split("${value}").join("x")) as {
      gateway: { auth: Record<string, unknown> };
    };
    expect(parsed.gateway.auth).toEqual({ mode: "token", rateLimit: GATEWAY_AUTH_RATE_LIMIT });
    expect(GATEWAY_AUTH_RATE_LIMIT.maxAttempts).toBeGreaterThan(0);
  });
});

describe("the gateway's telemetry", () => {
  it("sets no Application Insights variable: nothing in OpenClaw reads one", () => {
    for (const container of containerApp().app.template.containers)
      expect(container.env.map((entry) => entry.name).filter((name) => name.startsWith("APPLICATIONINSIGHTS"))).toEqual(
        [],
      );
  });
});

describe("the sign-in (auth config)", () => {
  it("names no api:// audience the sign-in app does not have; the client id is the audience", () => {
    const { plan } = containerApp();
    const auth = plan.nodes.find((node) => node.id === "authConfig")!.desired as {
      config: {
        identityProviders: {
          azureActiveDirectory: { registration: { clientId: unknown }; validation: { allowedAudiences: unknown[] } };
        };
      };
    };
    const aad = auth.config.identityProviders.azureActiveDirectory;
    expect(aad.registration.clientId).toEqual({ fromNode: "entraApp", output: "appId" });
    expect(aad.validation.allowedAudiences).toEqual([]);
    expect(JSON.stringify(auth)).not.toContain("api://");
  });
});
