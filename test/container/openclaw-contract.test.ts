/**
 * The Container App's contract with the real OpenClaw: the gateway started with exactly the
 * openclaw.json (written by the real seed script) and environment Shire generates, behind real
 * nginx with the generated sidecar config. Secrets are test values; ports and paths are adapted
 * to loopback and temp dirs only where Container Apps specifics require it.
 * Needs `bash scripts/setup-openclaw.sh` (npm run test:container does it) and nginx.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { resolveReferences } from "../../src/contract/reference";
import type { ActivityResult } from "../../src/contract/activity";
import { OPENCLAW_STATE_MOUNT } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";

const OPENCLAW_DIR = process.env.SHIRE_OPENCLAW_DIR ?? path.join(os.homedir(), ".cache", "shire-openclaw");
const NODE24 = path.join(OPENCLAW_DIR, "node24", "node_modules", ".bin", "node");
const OPENCLAW = path.join(OPENCLAW_DIR, "app", "node_modules", "openclaw", "openclaw.mjs");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((candidate) => fs.existsSync(candidate));
const GATEWAY_TOKEN = "contract-test-gateway-token-0123456789";

interface EnvVar {
  name: string;
  value?: string;
  secretRef?: string;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env: EnvVar[];
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "shire-contract-"));
const stateDir = path.join(work, "state");
const logs: string[] = [];
const children: ChildProcess[] = [];
let nginxPort = 0;
let containers: Container[] = [];

/** Container App secrets with test values (in Azure they are Key Vault references). */
const SECRET_VALUES: Record<string, string> = {
  "gateway-token": GATEWAY_TOKEN,
  "entra-client-secret": "contract-test-sign-in-secret",
  "teams-app-password": "contract-test-app-password",
};

function envFor(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env)
    env[entry.name] = entry.secretRef ? SECRET_VALUES[entry.secretRef] : String(entry.value);
  // The Azure Files mount becomes a temp dir; nothing else changes.
  for (const [key, value] of Object.entries(env)) env[key] = value.split(OPENCLAW_STATE_MOUNT).join(stateDir);
  return env;
}

function run(command: string, args: string[], env: Record<string, string>, name: string): ChildProcess {
  const child = spawn(command, args, {
    env: { PATH: `${path.dirname(NODE24)}:${process.env.PATH}`, HOME: path.join(work, "home"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => logs.push(`[${name}] ${chunk.toString()}`));
  child.stderr!.on("data", (chunk: Buffer) => logs.push(`[${name}] ${chunk.toString()}`));
  children.push(child);
  return child;
}

async function poll<T>(what: string, attempt: () => Promise<T | undefined>, deadlineMs: number): Promise<T> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < deadlineMs) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`${what} not ready after ${deadlineMs} ms (${String(last)}); logs:\n${logs.join("").slice(-4000)}`);
}

beforeAll(async () => {
  expect(fs.existsSync(OPENCLAW), `OpenClaw is not installed at ${OPENCLAW}: run bash scripts/setup-openclaw.sh`).toBe(
    true,
  );
  expect(NGINX, "nginx is not installed").toBeDefined();
  fs.mkdirSync(path.join(work, "home"), { recursive: true });
  fs.mkdirSync(stateDir, { recursive: true });

  // Exactly what install would deploy for a Teams slug, with run-time outputs filled in.
  const validation = validateInstallRequest("contract", {});
  if (!validation.ok) throw new Error("default spec invalid");
  const plan = planSlug(validation.spec, {
    subscriptionId: "00000000-0000-4000-8000-000000000001",
    tenantId: "00000000-0000-4000-8000-0000000000aa",
    brokerPrincipalId: "00000000-0000-4000-8000-0000000000b0",
    vaultUri: (name) => `https://${name}.vault.azure.net/`,
  });
  const outputs = (_nodeId: string, values: ActivityResult["outputs"]): ActivityResult["outputs"] => values;
  const node = plan.nodes.find((candidate) => candidate.id === "containerApp")!;
  const desired = resolveReferences(node.desired as never, {
    managedEnvironment: outputs("managedEnvironment", {
      resourceId: "/env",
      defaultDomain: "contract.westeurope.azurecontainerapps.io",
    }),
    appInsights: outputs("appInsights", {
      connectionString: "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/",
    }),
    entraApp: outputs("entraApp", {
      appId: "11111111-1111-4111-8111-111111111111",
      applicationObjectId: "x",
      servicePrincipalId: "y",
    }),
    botApp: outputs("botApp", {
      appId: "22222222-2222-4222-8222-222222222222",
      applicationObjectId: "b",
      servicePrincipalId: "c",
    }),
  }) as { template: { initContainers: Container[]; containers: Container[] } };
  containers = desired.template.containers;

  // 1. The init container: the real seed script writes openclaw.json onto the (temp) share and
  // installs the pinned Teams plugin there, through the real `openclaw plugins install` (the
  // image's /app/openclaw.mjs is the local install here).
  const seed = desired.template.initContainers[0];
  // The machine's environment first (its CA trust and proxy settings reach the npm registry), then
  // the container's. Not vitest's own variables: OpenClaw's CLI goes quiet under VITEST.
  const machine = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && key !== "NODE_ENV"),
  );
  const seedEnv = {
    ...machine,
    ...envFor(seed),
    OPENCLAW_ENTRY: OPENCLAW,
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
    HOME: path.join(work, "home"),
  };
  const seeded = spawnSync(NODE24, seed.command!.slice(1), { env: seedEnv, encoding: "utf8", timeout: 240_000 });
  expect(seeded.status, `${seeded.stdout}\n${seeded.stderr}`).toBe(0);
  const config = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8"));
  expect(config.gateway).toMatchObject({
    mode: "local",
    bind: "lan",
    auth: { mode: "token" },
    trustedProxies: ["127.0.0.1"],
  });
  expect(seeded.stdout).toContain("installing plugin @openclaw/msteams@");
  // A second start finds the pinned plugin on the share and installs nothing.
  const again = spawnSync(NODE24, seed.command!.slice(1), { env: seedEnv, encoding: "utf8", timeout: 60_000 });
  expect(again.status, again.stderr).toBe(0);
  expect(again.stdout).toMatch(/plugin @openclaw\/msteams@[\d.]+ present/);
  const openclawEnv = envFor(containers[0]);

  // 3. The gateway, with the container's own arguments and environment.
  const args = containers[0].args!.map((arg) => (arg === "openclaw.mjs" ? OPENCLAW : arg));
  expect(args[0]).toBe("node");
  run(NODE24, args.slice(1), openclawEnv, "gateway");

  // 4. The sidecar: the generated nginx.conf, with its listen port and temp paths moved.
  nginxPort = await freePort();
  const nginxConf = envFor(containers[1])
    .SHIRE_NGINX_CONF.replace("listen 8080;", `listen ${nginxPort};`)
    .replace(/\/tmp\/nginx/g, path.join(work, "nginx"));
  fs.writeFileSync(path.join(work, "nginx.conf"), nginxConf);
  const stdout = fs.openSync(path.join(work, "nginx.log"), "a");
  const nginx = spawn(NGINX!, ["-c", path.join(work, "nginx.conf"), "-p", work, "-g", "daemon off;"], {
    stdio: ["ignore", stdout, "pipe"],
  });
  children.push(nginx);
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill("SIGTERM");
});

/**
 * Where requests come from. In a Container App the sidecar hears Envoy, never a loopback client,
 * and OpenClaw refuses a forwarded client address that is loopback (it cannot attribute it): so
 * the test talks to nginx through this machine's own non-loopback address when it has one.
 */
const CLIENT_HOST =
  Object.values(os.networkInterfaces())
    .flat()
    .find((address) => address && address.family === "IPv4" && !address.internal)?.address ?? "127.0.0.1";
const viaNginx = (route: string, init?: RequestInit) => fetch(`http://${CLIENT_HOST}:${nginxPort}${route}`, init);

describe("OpenClaw behind the NGINX sidecar, as Shire deploys it", () => {
  it("answers /healthz and /readyz from the gateway", async () => {
    const live = await poll(
      "healthz",
      async () => {
        const response = await viaNginx("/healthz");
        const body = (await response.json().catch(() => undefined)) as { ok?: boolean; status?: string } | undefined;
        return body?.ok === true ? body : undefined;
      },
      120_000,
    );
    expect(live).toMatchObject({ ok: true, status: "live" });
    const ready = await poll(
      "readyz",
      async () => {
        const body = (await (await viaNginx("/readyz")).json().catch(() => undefined)) as
          { ready?: boolean } | undefined;
        return body?.ready === true ? body : undefined;
      },
      120_000,
    );
    expect(ready.ready).toBe(true);
  });

  it("routes POST /api/messages to the Teams plugin, which refuses an unsigned request", async () => {
    const answer = await poll(
      "Teams webhook",
      async () => {
        const response = await viaNginx("/api/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "message" }),
        });
        if (response.status === 502) return undefined; // plugin not listening yet
        return { status: response.status, body: await response.text() };
      },
      180_000,
    );
    expect(answer.status).toBe(401);
    expect(answer.body).toContain("Unauthorized");
  });

  it("passes WebSocket upgrades to the gateway, which requires the gateway token", async () => {
    const attempt = (token: string) =>
      new Promise<{
        challenge: Record<string, unknown>;
        reply: Record<string, unknown> | undefined;
        closedWith?: number;
      }>((resolve, reject) => {
        const socket = new WebSocket(`ws://${CLIENT_HOST}:${nginxPort}/`);
        let challenge: Record<string, unknown> | undefined;
        const timer = setTimeout(() => reject(new Error("no answer from the gateway")), 20_000);
        socket.on("message", (data) => {
          const frame = JSON.parse(data.toString()) as Record<string, unknown>;
          if (!challenge) {
            challenge = frame;
            socket.send(
              JSON.stringify({
                type: "req",
                id: "1",
                method: "connect",
                params: {
                  minProtocol: 4,
                  maxProtocol: 4,
                  client: { id: "gateway-client", version: "1.0.0", platform: "linux", mode: "backend" },
                  role: "operator",
                  scopes: ["operator.read"],
                  caps: [],
                  commands: [],
                  permissions: {},
                  auth: { token },
                },
              }),
            );
            return;
          }
          clearTimeout(timer);
          resolve({ challenge, reply: frame });
          socket.close();
        });
        socket.on("close", (code) => {
          clearTimeout(timer);
          if (challenge) resolve({ challenge, reply: undefined, closedWith: code });
        });
        socket.on("error", reject);
      });
    await poll(
      "gateway ready",
      async () =>
        ((await (await viaNginx("/readyz")).json().catch(() => ({}))) as { ready?: boolean }).ready ? true : undefined,
      180_000,
    );
    const wrong = await attempt("not-the-token");
    const right = await attempt(GATEWAY_TOKEN);
    fs.writeFileSync(
      path.join(os.tmpdir(), "shire-contract-ws.json"),
      JSON.stringify({ wrong: wrong.reply ?? wrong.closedWith, right: right.reply ?? right.closedWith }, null, 2),
    );
    expect(wrong.challenge).toMatchObject({ type: "event", event: "connect.challenge" });
    expect(wrong.reply).toMatchObject({ ok: false, error: { details: { code: "AUTH_TOKEN_MISMATCH" } } });
    expect(right.reply).toMatchObject({ ok: true, payload: { type: "hello-ok", server: { version: "2026.9.6" } } });
  });
});
