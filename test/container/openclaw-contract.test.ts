/**
 * The Container App's contract with the real OpenClaw: the gateway started with exactly the
 * openclaw.json (written by the real seed script) and environment Shire generates, behind real
 * nginx with the generated sidecar config. Secrets are test values; ports and paths are adapted
 * to loopback and temp dirs only where Container Apps specifics require it.
 * The platform's hops in front of nginx are stand-ins (test/container/forwarding-hop.cjs): an
 * Envoy-like ingress in a network namespace of its own, reaching nginx from a private address as
 * Container Apps' ingress does, and a loopback hop that forwards like the sign-in middleware.
 * Needs `bash scripts/setup-openclaw.sh` (npm run test:container does it), nginx, and root (the
 * network namespace).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { planSlug } from "../../src/model/plan";
import { validateInstallRequest } from "../../src/model/validate";
import { resolveReferences } from "../../src/contract/reference";
import type { ActivityResult } from "../../src/contract/activity";
import { OPENCLAW_PORTS, OPENCLAW_STATE_MOUNT } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";

const OPENCLAW_DIR = process.env.SHIRE_OPENCLAW_DIR ?? path.join(os.homedir(), ".cache", "shire-openclaw");
const NODE24 = path.join(OPENCLAW_DIR, "node24", "node_modules", ".bin", "node");
const OPENCLAW = path.join(OPENCLAW_DIR, "app", "node_modules", "openclaw", "openclaw.mjs");
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((candidate) => fs.existsSync(candidate));
const GATEWAY_TOKEN = "contract-test-gateway-token-0123456789";
/** The slug's user-assigned identity's client id: the Teams bot's app id. */
const BOT_IDENTITY_CLIENT_ID = "22222222-2222-4222-8222-222222222222";

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
let openclawEnv: Record<string, string> = {};
let gatewayProcess: ChildProcess | undefined;
/** The seed (init container) as the replica runs it, for a restart. */
let seedCommand: { args: string[]; env: () => Record<string, string> } | undefined;

/** Container App secrets with test values (in Azure they are Key Vault references). */
const SECRET_VALUES: Record<string, string> = {
  "gateway-token": GATEWAY_TOKEN,
  "entra-client-secret": "contract-test-sign-in-secret",
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

  // Exactly what install would deploy for a Teams slug (its bot on the slug's managed identity),
  // with run-time outputs filled in.
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
    entraApp: outputs("entraApp", {
      appId: "11111111-1111-4111-8111-111111111111",
      applicationObjectId: "x",
      servicePrincipalId: "y",
    }),
    identity: outputs("identity", {
      resourceId: "/identity",
      principalId: "33333333-3333-4333-8333-333333333333",
      clientId: BOT_IDENTITY_CLIENT_ID,
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
  // (A function: a restart reads the container's secrets anew.)
  const seedEnvNow = () => ({
    ...machine,
    ...envFor(seed),
    OPENCLAW_ENTRY: OPENCLAW,
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
    HOME: path.join(work, "home"),
  });
  const seedEnv = seedEnvNow();
  seedCommand = { args: seed.command!.slice(1), env: seedEnvNow };
  const seeded = spawnSync(NODE24, seed.command!.slice(1), { env: seedEnv, encoding: "utf8", timeout: 240_000 });
  expect(seeded.status, `${seeded.stdout}\n${seeded.stderr}`).toBe(0);
  const config = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8"));
  expect(config.gateway).toMatchObject({
    mode: "local",
    bind: "lan",
    auth: { mode: "token" },
    trustedProxies: ["127.0.0.1"],
  });
  // The Teams plugin authenticates through the managed identity: no password anywhere.
  expect(config.channels.msteams).toMatchObject({ enabled: true, authType: "federated", useManagedIdentity: true });
  expect(JSON.stringify(config)).not.toContain("appPassword");
  expect(seeded.stdout).toContain("installing plugin @openclaw/msteams@");
  // A second start finds the pinned plugin on the share and installs nothing.
  const again = spawnSync(NODE24, seed.command!.slice(1), { env: seedEnv, encoding: "utf8", timeout: 60_000 });
  expect(again.status, again.stderr).toBe(0);
  expect(again.stdout).toMatch(/plugin @openclaw\/msteams@[\d.]+ present/);
  openclawEnv = envFor(containers[0]);
  expect(openclawEnv).toMatchObject({
    MSTEAMS_APP_ID: BOT_IDENTITY_CLIENT_ID,
    MSTEAMS_MANAGED_IDENTITY_CLIENT_ID: BOT_IDENTITY_CLIENT_ID,
  });
  expect(openclawEnv).not.toHaveProperty("MSTEAMS_APP_PASSWORD");

  // 3. The gateway, with the container's own arguments and environment.
  const args = containers[0].args!.map((arg) => (arg === "openclaw.mjs" ? OPENCLAW : arg));
  expect(args[0]).toBe("node");
  gatewayProcess = run(NODE24, args.slice(1), openclawEnv, "gateway");

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

  // 5. The platform's hops. Clients have public addresses (198.51.100.x, TEST-NET-2) on the host
  // side of a veth pair; the ingress stand-in runs in its own network namespace on the other side
  // and reaches nginx, or the sign-in stand-in, from a private address (100.100.0.2, where
  // Container Apps' Envoy is seen from). The sign-in stand-in connects to nginx from loopback.
  setUpNetwork();
  const signInPort = await freePort();
  await startHop("sign-in", `${HOST_PRIVATE}:${signInPort}`, `127.0.0.1:${nginxPort}`);
  await startHop("ingress-direct", `${NS_PUBLIC}:${INGRESS_DIRECT_PORT}`, `${HOST_PRIVATE}:${nginxPort}`, NETNS);
  await startHop("ingress-sign-in", `${NS_PUBLIC}:${INGRESS_SIGN_IN_PORT}`, `${HOST_PRIVATE}:${signInPort}`, NETNS);
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill("SIGTERM");
  spawnSync("ip", ["netns", "delete", NETNS]);
});

const NETNS = `shire-ct-${process.pid}`;
const VETH = `shct${process.pid % 100000}`;
const HOST_PRIVATE = "100.100.0.1";
const NS_PRIVATE = "100.100.0.2";
const NS_PUBLIC = "198.51.100.2";
/** Internet clients: each lockout test locks out its own address for 5 minutes. */
const CLIENTS = { main: "198.51.100.1", lockoutDirect: "198.51.100.3", lockoutSignIn: "198.51.100.4" };
const INGRESS_DIRECT_PORT = 8443;
const INGRESS_SIGN_IN_PORT = 8444;

function ip(...args: string[]): void {
  const result = spawnSync("ip", args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
}

function setUpNetwork(): void {
  // A run that was killed leaves its namespace (and the veth's host side) behind: remove those.
  for (const line of spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n")) {
    const pid = /^shire-ct-(\d+)/.exec(line)?.[1];
    if (pid && !processAlive(Number(pid))) spawnSync("ip", ["netns", "delete", `shire-ct-${pid}`]);
  }
  ip("netns", "add", NETNS);
  ip("link", "add", `${VETH}h`, "type", "veth", "peer", "name", `${VETH}n`, "netns", NETNS);
  for (const address of [`${HOST_PRIVATE}/24`, ...Object.values(CLIENTS).map((client) => `${client}/24`)])
    ip("addr", "add", address, "dev", `${VETH}h`);
  ip("link", "set", `${VETH}h`, "up");
  for (const address of [`${NS_PRIVATE}/24`, `${NS_PUBLIC}/24`])
    ip("-n", NETNS, "addr", "add", address, "dev", `${VETH}n`);
  ip("-n", NETNS, "link", "set", `${VETH}n`, "up");
  ip("-n", NETNS, "link", "set", "lo", "up");
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startHop(name: string, listen: string, target: string, netns?: string): Promise<void> {
  const script = path.join(__dirname, "forwarding-hop.cjs");
  const [command, args] = netns
    ? ["ip", ["netns", "exec", netns, process.execPath, script]]
    : [process.execPath, [script]];
  const env = { HOP_NAME: name, HOP_LISTEN: listen, HOP_TARGET: target, HOP_EDGE: netns ? "1" : "0" };
  const child = run(command, args, env, name);
  await poll(name, async () => (logs.some((line) => line.includes(`${name} listening`)) ? true : undefined), 10_000);
  expect(child.exitCode).toBeNull();
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request from an internet client (its own address) to a public entry point. */
function send(
  entry: string,
  route: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {},
): Promise<Answer> {
  const [host, port] = entry.split(":");
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method: options.method ?? "GET",
        path: route,
        localAddress: options.from ?? CLIENTS.main,
        headers: { host: "openclaw.contract.westeurope.azurecontainerapps.io", ...options.headers },
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

interface WsResult {
  upgradeStatus?: number;
  challenge?: Record<string, unknown>;
  reply?: Record<string, unknown>;
  closedWith?: number;
  refused?: { status: number; body: string };
}

/** A WebSocket session: the upgrade, the gateway's first frame, then `connect` with a token. */
function connect(
  url: string,
  token: string,
  options: { from?: string; headers?: Record<string, string> } = {},
): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const result: WsResult = {};
    const socket = new WebSocket(url, { localAddress: options.from ?? CLIENTS.main, headers: options.headers });
    const timer = setTimeout(() => reject(new Error(`no answer from the gateway via ${url}`)), 20_000);
    socket.on("upgrade", (response) => (result.upgradeStatus = response.statusCode));
    socket.on("unexpected-response", (_, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => {
        clearTimeout(timer);
        resolve({ ...result, refused: { status: response.statusCode ?? 0, body } });
      });
    });
    socket.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (!result.challenge) {
        result.challenge = frame;
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
      resolve({ ...result, reply: frame });
      socket.close();
    });
    socket.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ...result, closedWith: code });
    });
    socket.on("error", (error) => {
      if (!result.refused) reject(error);
    });
  });
}

const readyJson = async (entry: string, route: string) => {
  const answer = await send(entry, route);
  return answer.status === 200 ? (JSON.parse(answer.body) as Record<string, unknown>) : undefined;
};

const TOPOLOGIES = [
  {
    name: "behind the ingress alone (Envoy connects to nginx from a private address)",
    entry: () => `${NS_PUBLIC}:${INGRESS_DIRECT_PORT}`,
    lockoutClient: CLIENTS.lockoutDirect,
  },
  {
    name: "behind the ingress and the sign-in middleware (nginx's peer is loopback)",
    entry: () => `${NS_PUBLIC}:${INGRESS_SIGN_IN_PORT}`,
    lockoutClient: CLIENTS.lockoutSignIn,
  },
];

describe("the gateway as Shire configures it", () => {
  it("becomes live and ready, and every probe Shire sets is a real endpoint of this gateway", async () => {
    const gateway = `http://127.0.0.1:${OPENCLAW_PORTS.gateway}`;
    await poll(
      "startupz",
      async () => {
        const response = await fetch(`${gateway}/startupz`);
        return response.status === 200 ? true : undefined;
      },
      180_000,
    );
    const probes = (
      containers[0] as Container & { probes: { type: string; httpGet: { path: string; port: number } }[] }
    ).probes;
    // Readiness asks the supervisor's listener, which passes only the gateway's /startupz JSON saying ready.
    const readiness = probes.find((probe) => probe.type === "Readiness")!;
    expect(readiness.httpGet).toEqual({ path: "/ready", port: OPENCLAW_PORTS.readiness });
    const verdict = await fetch(`http://127.0.0.1:${OPENCLAW_PORTS.readiness}/ready`);
    expect(verdict.status).toBe(200);
    expect(await verdict.json()).toMatchObject({ ready: true, gateway: { ok: true, status: "started" } });
    for (const probe of probes.filter((probe) => probe !== readiness)) {
      expect(probe.httpGet.port).toBe(OPENCLAW_PORTS.gateway);
      const response = await fetch(`${gateway}${probe.httpGet.path}`);
      // The Control UI answers any unknown path with 200 and HTML: a probe must hit JSON.
      expect(response.status, `${probe.type} ${probe.httpGet.path}`).toBe(200);
      expect(response.headers.get("content-type"), `${probe.type} ${probe.httpGet.path}`).toContain("application/json");
    }
    const unknown = await fetch(`${gateway}/no-such-probe`);
    expect(unknown.status).toBe(200);
    expect(unknown.headers.get("content-type")).toContain("text/html");
  });

  it("passes `openclaw security audit` without gateway.auth_no_rate_limit", () => {
    const audit = spawnSync(NODE24, [OPENCLAW, "security", "audit", "--json"], {
      env: { PATH: `${path.dirname(NODE24)}:${process.env.PATH}`, HOME: path.join(work, "home"), ...openclawEnv },
      encoding: "utf8",
      timeout: 120_000,
    });
    const report = JSON.parse(audit.stdout.slice(audit.stdout.indexOf("{"))) as {
      findings: { checkId: string; severity: string }[];
    };
    fs.writeFileSync(path.join(os.tmpdir(), "shire-contract-audit.json"), JSON.stringify(report, null, 2));
    expect(report.findings.map((finding) => finding.checkId)).not.toContain("gateway.auth_no_rate_limit");
    expect(report.findings.filter((finding) => finding.severity === "critical")).toEqual([]);
  });
});

describe.each(TOPOLOGIES)("OpenClaw behind the NGINX sidecar, $name", ({ entry, lockoutClient }) => {
  it("answers /healthz and /readyz through the chain", async () => {
    expect(await poll("healthz", () => readyJson(entry(), "/healthz"), 120_000)).toMatchObject({
      ok: true,
      status: "live",
    });
    expect(
      await poll(
        "readyz",
        async () => ((await readyJson(entry(), "/readyz"))?.ready === true ? true : undefined),
        180_000,
      ),
    ).toBe(true);
  });

  it("serves the Control UI, also to a client that forges X-Forwarded-For", async () => {
    const variants: Record<string, string>[] = [
      {},
      { "x-forwarded-for": "127.0.0.1" },
      { "x-forwarded-for": "10.0.0.1, 127.0.0.1" },
    ];
    for (const headers of variants) {
      const answer = await send(entry(), "/", { headers });
      expect(answer.status, `GET / with ${JSON.stringify(headers)}: ${answer.body.slice(0, 200)}`).toBe(200);
      expect(answer.headers["content-type"]).toContain("text/html");
      expect(answer.body).toContain("<title>OpenClaw Control</title>");
      expect(answer.body).toContain("data-openclaw-control-ui-build-id");
    }
  });

  it("routes POST /api/messages to the Teams plugin, which refuses an unsigned request", async () => {
    const answer = await poll(
      "Teams webhook",
      async () => {
        const response = await send(entry(), "/api/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "message" }),
        });
        return response.status === 502 ? undefined : response; // plugin not listening yet
      },
      180_000,
    );
    expect(answer.status).toBe(401);
    expect(answer.body).toContain("Unauthorized");
  });

  it("upgrades WebSockets (101, then connect.challenge) and admits the gateway token", async () => {
    const url = `ws://${entry()}/`;
    const wrong = await connect(url, "not-the-token");
    const right = await connect(url, GATEWAY_TOKEN);
    const forged = await connect(url, GATEWAY_TOKEN, { headers: { "x-forwarded-for": "127.0.0.1" } });
    fs.writeFileSync(
      path.join(os.tmpdir(), `shire-contract-ws-${entry().split(":")[1]}.json`),
      JSON.stringify({ wrong, right, forged }, null, 2),
    );
    for (const session of [wrong, right, forged]) {
      expect(session.refused).toBeUndefined();
      expect(session.upgradeStatus).toBe(101);
      expect(session.challenge).toMatchObject({ type: "event", event: "connect.challenge" });
    }
    expect(wrong.reply).toMatchObject({ ok: false, error: { details: { code: "AUTH_TOKEN_MISMATCH" } } });
    expect(right.reply).toMatchObject({ ok: true, payload: { type: "hello-ok", server: { version: "2026.9.6" } } });
    expect(forged.reply).toMatchObject({ ok: true, payload: { type: "hello-ok" } });
  });

  it("attributes failed token attempts to the client, not to loopback, even with a forged X-Forwarded-For: 127.0.0.1", async () => {
    // Loopback is exempt from the auth rate limit (exemptLoopback): had the forged header made the
    // client local, the 11th wrong token would still be a plain mismatch. And had nginx passed
    // its peer on (the ingress for every client), the lockout would shut out everyone.
    const url = `ws://${entry()}/`;
    const forged = { from: lockoutClient, headers: { "x-forwarded-for": "127.0.0.1" } };
    const codes: unknown[] = [];
    for (let attempt = 0; attempt < 11; attempt++) {
      const session = await connect(url, `wrong-token-${attempt}`, forged);
      codes.push((session.reply as { error?: { details?: { code?: string } } } | undefined)?.error?.details?.code);
    }
    expect(codes.slice(0, 10)).toEqual(Array(10).fill("AUTH_TOKEN_MISMATCH"));
    expect(codes[10]).toBe("AUTH_RATE_LIMITED");
    // Another client is not locked out.
    expect((await connect(url, GATEWAY_TOKEN)).reply).toMatchObject({ ok: true, payload: { type: "hello-ok" } });
  });
});

describe("rotating the gateway token as Shire does (vault value -> restart)", () => {
  it("keeps the old token until the restart; after it, the new token connects and the old one is refused", async () => {
    const url = `ws://${NS_PUBLIC}:${INGRESS_DIRECT_PORT}/`;
    const rotated = "contract-test-gateway-token-rotated-9876543210";
    // The rotation's stage: a new version in the vault. A versionless Key Vault reference resolves
    // to it from now on, but a running replica keeps the value it started with.
    SECRET_VALUES["gateway-token"] = rotated;
    expect((await connect(url, GATEWAY_TOKEN)).reply).toMatchObject({ ok: true, payload: { type: "hello-ok" } });
    expect((await connect(url, rotated)).reply).toMatchObject({
      ok: false,
      error: { details: { code: "AUTH_TOKEN_MISMATCH" } },
    });

    // The restart (containerAppsRevisions.restartRevision): the replica's containers stop and
    // start again, the init container first, each reading its secrets anew.
    const stopped = new Promise((resolve) => gatewayProcess!.once("exit", resolve));
    gatewayProcess!.kill("SIGTERM");
    await stopped;
    const reseeded = spawnSync(NODE24, seedCommand!.args, {
      env: seedCommand!.env(),
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(reseeded.status, `${reseeded.stdout}\n${reseeded.stderr}`).toBe(0);
    openclawEnv = envFor(containers[0]);
    expect(openclawEnv.OPENCLAW_GATEWAY_TOKEN).toBe(rotated);
    const args = containers[0].args!.map((arg) => (arg === "openclaw.mjs" ? OPENCLAW : arg));
    gatewayProcess = run(NODE24, args.slice(1), openclawEnv, "gateway-restarted");
    await poll(
      "the restarted gateway",
      async () =>
        (await readyJson(`${NS_PUBLIC}:${INGRESS_DIRECT_PORT}`, "/readyz"))?.ready === true ? true : undefined,
      180_000,
    );

    const fresh = await connect(url, rotated);
    const old = await connect(url, GATEWAY_TOKEN);
    fs.writeFileSync(path.join(os.tmpdir(), "shire-contract-rotation.json"), JSON.stringify({ fresh, old }, null, 2));
    expect(fresh.reply).toMatchObject({ ok: true, payload: { type: "hello-ok" } });
    expect(old.reply).toMatchObject({ ok: false, error: { details: { code: "AUTH_TOKEN_MISMATCH" } } });
  });
});
