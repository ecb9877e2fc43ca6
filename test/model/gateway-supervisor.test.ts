/**
 * The state lease supervisor (infra/openclaw/gateway-supervisor.js), run for real with short
 * timings: two or more supervisors ("replicas" of an old and a new revision) on one temp state
 * dir, each with a stub gateway that logs its lifetime into the state dir, holds a file there open
 * and checks, every 50 ms, that no other stub gateway is alive (a marker file holding the pid of
 * the gateway that owns the state). Killing a replica kills its supervisor and its gateway at once,
 * as Container Apps does when a replica dies.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { buildOpenClawContainerSpec, gatewaySupervisorScript, seedScript } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";

// Short, but with room for a loaded machine: "at once" below means well under STALE_MS.
const TIMING = {
  SHIRE_LEASE_POLL_SECONDS: "0.05",
  SHIRE_LEASE_RENEW_SECONDS: "0.1",
  SHIRE_LEASE_STALE_SECONDS: "4",
  SHIRE_LEASE_FENCE_SECONDS: "2.5",
  SHIRE_TAKEOVER_TIMEOUT_SECONDS: "2.5",
  SHIRE_LEASE_HANDOFF_SECONDS: "8",
  SHIRE_GATEWAY_STOP_SECONDS: "3",
  SHIRE_TAKEOVER_STOP_SECONDS: "3",
};
const STALE_MS = 4000;
const TAKEOVER_MS = 2500;
const AT_ONCE_MS = 2000;

/** Is `pid` a live process (zombies count as dead)? Shared by the stub and the test. */
const ALIVE = `function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try { const stat = require("node:fs").readFileSync("/proc/" + pid + "/stat", "utf8"); return stat[stat.lastIndexOf(")") + 2] !== "Z"; } catch { return true; }
}`;

/** The stub gateway: logs start/sigterm/stop/fail/overlap events as JSON lines into the state dir. */
const STUB = `const fs = require("node:fs"), path = require("node:path"), http = require("node:http");
${ALIVE}
const dir = process.env.OPENCLAW_STATE_DIR, name = process.env.STUB_NAME;
const log = (event, extra = {}) => fs.appendFileSync(path.join(dir, "gateway.log"), JSON.stringify({ t: Date.now(), event, name, pid: process.pid, ...extra }) + "\\n");
const marker = path.join(dir, "gateway.running");
const check = () => {
  let other;
  try { other = Number(fs.readFileSync(marker, "utf8")); } catch {}
  if (other && other !== process.pid && alive(other)) log("overlap", { other });
};
check();
fs.writeFileSync(marker, String(process.pid));
const db = fs.openSync(path.join(dir, "state.sqlite"), "a");
fs.writeSync(db, name + " " + process.pid + "\\n");
process.on("SIGTERM", () => {
  log("sigterm");
  if (process.env.STUB_IGNORE_TERM) return;
  setTimeout(() => {
    try { if (Number(fs.readFileSync(marker, "utf8")) === process.pid) fs.rmSync(marker); } catch {}
    fs.closeSync(db);
    log("stop");
    process.exit(0);
  }, Number(process.env.STUB_STOP_MS || 200));
});
log("start");
if (process.env.STUB_FAIL) { log("fail"); process.exit(3); }
setInterval(check, 50);
http.createServer((request, response) => response.end(process.env.STUB_BODY ?? JSON.stringify({ ok: true, status: "live" }))).listen(Number(process.env.OPENCLAW_GATEWAY_PORT));
`;

/** What the seed does in these tests: one event, and the same overlap check. */
const SEED = `const fs = require("node:fs"), path = require("node:path");
${ALIVE}
const dir = process.env.OPENCLAW_STATE_DIR;
const log = (event, extra = {}) => fs.appendFileSync(path.join(dir, "gateway.log"), JSON.stringify({ t: Date.now(), event, name: "seed", pid: process.pid, ...extra }) + "\\n");
let other;
try { other = Number(fs.readFileSync(path.join(dir, "gateway.running"), "utf8")); } catch {}
if (other && alive(other)) log("overlap", { other });
log("seed");
process.exit(Number(process.env.SEED_EXIT || 0));`;

interface Event {
  t: number;
  event: string;
  name: string;
  pid: number;
}
interface Replica {
  name: string;
  port: number;
  process: ChildProcess;
  exited: Promise<number | null>;
  stderr: string[];
}

const replicas: Replica[] = [];
const stubFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "shire-stub-gateway-")), "stub.cjs");
fs.writeFileSync(stubFile, STUB);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true;
  }
}

async function supervisor(
  dir: string,
  name: string,
  revision: string,
  options: { mode?: "run" | "once"; command?: string[]; env?: Record<string, string> } = {},
): Promise<Replica> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["-e", gatewaySupervisorScript(), options.mode ?? "run", ...(options.command ?? [process.execPath, stubFile])],
    {
      env: {
        PATH: process.env.PATH,
        ...TIMING,
        OPENCLAW_STATE_DIR: dir,
        OPENCLAW_GATEWAY_PORT: String(port),
        CONTAINER_APP_REPLICA_NAME: name,
        CONTAINER_APP_REVISION: revision,
        STUB_NAME: name,
        ...options.env,
      },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    },
  );
  const replica: Replica = {
    name,
    port,
    process: child,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    stderr: [],
  };
  child.stderr!.on("data", (chunk: Buffer) => replica.stderr.push(chunk.toString()));
  replicas.push(replica);
  return replica;
}

function events(dir: string): Event[] {
  const file = path.join(dir, "gateway.log");
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Event);
}

function diagnostics(dir: string): string {
  return `events:\n${fs.existsSync(path.join(dir, "gateway.log")) ? fs.readFileSync(path.join(dir, "gateway.log"), "utf8") : "(none)"}\nsupervisors:\n${replicas.map((replica) => replica.stderr.join("")).join("\n")}`;
}

async function waitFor<T>(
  what: string,
  dir: string,
  probe: () => T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms\n${diagnostics(dir)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const nth = (dir: string, name: string, event: string, n = 1) =>
  events(dir).filter((entry) => entry.name === name && entry.event === event)[n - 1];

/** A replica dies: its supervisor and its gateway (each a process group) get SIGKILL. */
function killReplica(dir: string, replica: Replica) {
  for (const pid of [
    replica.process.pid!,
    ...events(dir)
      .filter((entry) => entry.name === replica.name)
      .map((entry) => entry.pid),
  ]) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // not a group leader, or gone already
    }
  }
}

/** Never two gateways: no stub saw another one alive, and each start follows the previous one's end. */
function expectOneAtATime(dir: string, killed: number[] = []) {
  const log = events(dir);
  expect(
    log.filter((entry) => entry.event === "overlap"),
    diagnostics(dir),
  ).toEqual([]);
  let running: number | undefined;
  for (const entry of log) {
    if (entry.event === "start") {
      expect(running === undefined || killed.includes(running), `${entry.name} started while ${running} ran`).toBe(
        true,
      );
      running = entry.pid;
    }
    if ((entry.event === "stop" || entry.event === "fail") && entry.pid === running) running = undefined;
  }
}

async function get(
  port: number,
  route: string,
): Promise<{ status: number; body: Record<string, unknown> } | "refused"> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${route}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  } catch {
    return "refused";
  }
}

/** Like get, but waits (up to 2 s) for a listener that is about to open. */
async function answer(port: number, route: string) {
  let result = await get(port, route);
  for (let tries = 0; result === "refused" && tries < 40; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    result = await get(port, route);
  }
  return result;
}

function leaseTop(dir: string): Record<string, unknown> {
  const lease = path.join(dir, ".shire", "lease");
  const last = fs
    .readdirSync(lease)
    .filter((name) => /^gen-\d+\.json$/.test(name))
    .sort()
    .at(-1)!;
  return JSON.parse(fs.readFileSync(path.join(lease, last), "utf8").trim()) as Record<string, unknown>;
}

const stateDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "shire-lease-"));

afterEach(() => {
  for (const replica of replicas.splice(0)) {
    try {
      process.kill(-replica.process.pid!, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(stubFile)) process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone
    }
  }
});

describe("gateway-supervisor.js: one gateway on the state share at a time", () => {
  it("hands the state to a new revision: the old gateway stops gracefully first, the new one runs, the old supervisor stands by", async () => {
    const dir = stateDir();
    const a = await supervisor(dir, "replica-a", "openclaw--rev1", { env: { STUB_STOP_MS: "600" } });
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    expect(await answer(a.port, "/healthz")).toEqual({ status: 200, body: { ok: true, status: "live" } });

    const b = await supervisor(dir, "replica-b", "openclaw--rev2");
    await waitFor("B's takeover request", dir, () => fs.existsSync(path.join(dir, ".shire", "lease", "takeover.json")));
    // Waiting for the lease, B does not listen: its startup probe fails, the revision is not ready.
    expect(await get(b.port, "/healthz")).toBe("refused");
    await waitFor("B's gateway", dir, () => nth(dir, "replica-b", "start"));

    const log = events(dir);
    const at = (name: string, event: string) => log.findIndex((entry) => entry.name === name && entry.event === event);
    expect(at("replica-a", "sigterm"), diagnostics(dir)).toBeGreaterThan(at("replica-a", "start"));
    expect(at("replica-a", "stop")).toBeGreaterThan(at("replica-a", "sigterm"));
    expect(at("replica-b", "start")).toBeGreaterThan(at("replica-a", "stop"));
    expectOneAtATime(dir);
    expect(await answer(b.port, "/healthz")).toEqual({ status: 200, body: { ok: true, status: "live" } });
    expect(leaseTop(dir)).toMatchObject({ owner: "replica-b", revision: "openclaw--rev2", state: "held" });

    // The old replica stays up, alive but never ready, until Container Apps stops it.
    expect(a.process.exitCode).toBeNull();
    expect(await answer(a.port, "/healthz")).toEqual({ status: 200, body: { ok: true, status: "standby" } });
    expect(await get(a.port, "/readyz")).toMatchObject({ status: 503 });
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_MS + 500));
    expect(nth(dir, "replica-a", "start", 2), diagnostics(dir)).toBeUndefined();
    a.process.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(nth(dir, "replica-b", "sigterm")).toBeUndefined();
  });

  it("kills an old gateway that ignores SIGTERM after the takeover grace, and only then starts the new one", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1", { env: { STUB_IGNORE_TERM: "1" } });
    const started = await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    await supervisor(dir, "replica-b", "openclaw--rev2");
    const asked = await waitFor("A's SIGTERM", dir, () => nth(dir, "replica-a", "sigterm"));
    const taken = await waitFor("B's gateway", dir, () => nth(dir, "replica-b", "start"));
    expect(taken.t - asked.t, diagnostics(dir)).toBeGreaterThanOrEqual(
      Number(TIMING.SHIRE_TAKEOVER_STOP_SECONDS) * 1000 - 100,
    );
    expect(nth(dir, "replica-a", "stop")).toBeUndefined();
    expectOneAtATime(dir, [started.pid]);
  });

  it("takes over from a killed holder only once its lease is stale", async () => {
    const dir = stateDir();
    const a = await supervisor(dir, "replica-a", "openclaw--rev1");
    const started = await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    killReplica(dir, a);
    await waitFor("A's gateway killed", dir, () => !alive(started.pid));
    const killedAt = Date.now();

    await supervisor(dir, "replica-b", "openclaw--rev2");
    const taken = await waitFor("B's gateway", dir, () => nth(dir, "replica-b", "start"));
    expect(taken.t - killedAt, diagnostics(dir)).toBeGreaterThanOrEqual(STALE_MS);
    expect(nth(dir, "replica-a", "sigterm")).toBeUndefined();
    expectOneAtATime(dir, [started.pid]);
  });

  it("resumes the old gateway when the new revision asks for the lease and dies before taking it", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1", { env: { STUB_STOP_MS: "600" } });
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    const b = await supervisor(dir, "replica-b", "openclaw--rev2");
    await waitFor("B's takeover request", dir, () => fs.existsSync(path.join(dir, ".shire", "lease", "takeover.json")));
    killReplica(dir, b);

    const stopped = await waitFor("A's gateway stopped", dir, () => nth(dir, "replica-a", "stop"));
    const resumed = await waitFor("A's gateway resumed", dir, () => nth(dir, "replica-a", "start", 2));
    expect(resumed.t - stopped.t, diagnostics(dir)).toBeGreaterThanOrEqual(TAKEOVER_MS - 100);
    expect(nth(dir, "replica-b", "start")).toBeUndefined();
    expectOneAtATime(dir);
    expect(leaseTop(dir)).toMatchObject({ owner: "replica-a", state: "held" });
  });

  it("resumes the old gateway at once when the new revision's gateway fails, and the failure is the container's exit code", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1");
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    const b = await supervisor(dir, "replica-b", "openclaw--rev2", { env: { STUB_FAIL: "1" } });
    expect(await b.exited).toBe(3);
    const failed = nth(dir, "replica-b", "fail");
    const resumed = await waitFor("A's gateway resumed", dir, () => nth(dir, "replica-a", "start", 2));
    expect(resumed.t - failed.t, diagnostics(dir)).toBeLessThan(AT_ONCE_MS);
    expectOneAtATime(dir);
  });

  it("kills its gateway at once when another process holds a newer lease generation", async () => {
    const dir = stateDir();
    const a = await supervisor(dir, "replica-a", "openclaw--rev1");
    const started = await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    const gen = leaseTop(dir).gen as number;
    fs.writeFileSync(
      path.join(dir, ".shire", "lease", `gen-${String(gen + 1).padStart(12, "0")}.json`),
      JSON.stringify({ v: 1, gen: gen + 1, owner: "intruder", state: "held", counter: 1 }),
    );
    const written = Date.now();
    await waitFor("A's gateway killed", dir, () => !alive(started.pid), AT_ONCE_MS);
    expect(Date.now() - written).toBeLessThan(AT_ONCE_MS);
    expect(nth(dir, "replica-a", "sigterm")).toBeUndefined();
    expect(a.process.exitCode).toBeNull();
    expect(await answer(a.port, "/healthz")).toMatchObject({ body: { status: "standby" } });
  });

  it("kills its gateway at once when its lease file is deleted (anyone could start over from generation 1)", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1");
    const started = await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    for (const name of fs.readdirSync(path.join(dir, ".shire", "lease")))
      fs.rmSync(path.join(dir, ".shire", "lease", name));
    const deleted = Date.now();
    await waitFor("A's gateway killed", dir, () => !alive(started.pid), AT_ONCE_MS);
    expect(Date.now() - deleted).toBeLessThan(AT_ONCE_MS);
    expect(nth(dir, "replica-a", "sigterm")).toBeUndefined();
  });

  it("kills its gateway when it cannot renew the lease, before anyone may consider the lease stale", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1");
    const started = await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    // The lease directory becomes unreachable (here: a file where the directory was).
    const lease = path.join(dir, ".shire", "lease");
    fs.renameSync(lease, `${lease}.gone`);
    fs.writeFileSync(lease, "");
    const cut = Date.now();
    await waitFor("A's gateway fenced", dir, () => !alive(started.pid), STALE_MS);
    expect(Date.now() - cut, diagnostics(dir)).toBeLessThan(STALE_MS);
    expect(nth(dir, "replica-a", "sigterm")).toBeUndefined();
  });

  it("passes Container Apps' SIGTERM to the gateway and releases the lease", async () => {
    const dir = stateDir();
    const a = await supervisor(dir, "replica-a", "openclaw--rev1");
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    a.process.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    expect(nth(dir, "replica-a", "sigterm")).toBeDefined();
    expect(nth(dir, "replica-a", "stop")).toBeDefined();
    expect(leaseTop(dir)).toMatchObject({ owner: "replica-a", state: "released" });
  });

  it("runs the seed init container under the lease and hands the lease to the same replica's gateway", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1");
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    const seed = await supervisor(dir, "replica-b", "openclaw--rev2", {
      mode: "once",
      command: [process.execPath, "-e", SEED],
    });
    expect(await seed.exited).toBe(0);
    const seeded = nth(dir, "seed", "seed");
    expect(seeded.t, diagnostics(dir)).toBeGreaterThan(nth(dir, "replica-a", "stop").t);
    expect(leaseTop(dir)).toMatchObject({ owner: "replica-b", state: "handoff" });

    // The gap between the init container and the gateway container: the old replica waits.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(nth(dir, "replica-a", "start", 2), diagnostics(dir)).toBeUndefined();
    const before = Date.now();
    await supervisor(dir, "replica-b", "openclaw--rev2");
    const started = await waitFor("B's gateway", dir, () => nth(dir, "replica-b", "start"));
    expect(started.t - before).toBeLessThan(AT_ONCE_MS);
    expectOneAtATime(dir);
  });

  it("gives the lease back when the seed fails, so the old gateway resumes", async () => {
    const dir = stateDir();
    await supervisor(dir, "replica-a", "openclaw--rev1");
    await waitFor("A's gateway", dir, () => nth(dir, "replica-a", "start"));
    const seed = await supervisor(dir, "replica-b", "openclaw--rev2", {
      mode: "once",
      command: [process.execPath, "-e", SEED],
      env: { SEED_EXIT: "5" },
    });
    expect(await seed.exited).toBe(5);
    const resumed = await waitFor("A's gateway resumed", dir, () => nth(dir, "replica-a", "start", 2));
    expect(resumed.t - nth(dir, "seed", "seed").t, diagnostics(dir)).toBeLessThan(AT_ONCE_MS);
    expectOneAtATime(dir);
  });
});

describe("gateway-supervisor.js: readiness judged by the gateway's JSON body", () => {
  // The Control UI answers any path it does not serve with 200 and HTML, and Container Apps' probes
  // read the status alone: the readiness probe asks the supervisor, which reads the body.
  const ready = async (body?: string) => {
    const dir = stateDir();
    const readyPort = await freePort();
    const replica = await supervisor(dir, "r1", "rev-1", {
      env: {
        SHIRE_READY_PORT: String(readyPort),
        SHIRE_GATEWAY_READY_PATH: "/startupz",
        ...(body === undefined ? {} : { STUB_BODY: body }),
      },
    });
    await waitFor("the stub gateway", dir, () => nth(dir, "r1", "start"));
    // The stub listens a moment after it logs its start.
    let verdict = await answer(readyPort, "/ready");
    for (let tries = 0; verdict !== "refused" && verdict.status === 503 && tries < 40; tries++) {
      if (!String(verdict.body.reason).includes("did not answer")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
      verdict = await answer(readyPort, "/ready");
    }
    return { verdict, replica };
  };

  it("is ready when the gateway's readiness path says so in JSON", async () => {
    const { verdict } = await ready();
    expect(verdict).toMatchObject({ status: 200, body: { ready: true, gateway: { ok: true } } });
  });

  it("is not ready when the path answers 200 with HTML (the Control UI's catch-all)", async () => {
    const { verdict } = await ready("<!doctype html><html><body>Control UI</body></html>");
    expect(verdict).toMatchObject({ status: 503, body: { ready: false } });
    expect(verdict !== "refused" && String(verdict.body.reason)).toContain("/startupz answered 200 without JSON");
  });

  it("is not ready when the JSON says not ready", async () => {
    const { verdict } = await ready(JSON.stringify({ ready: false, failing: ["startup"] }));
    expect(verdict).toMatchObject({ status: 503, body: { ready: false } });
    expect(verdict !== "refused" && String(verdict.body.reason)).toContain('"failing":["startup"]');
  });

  it("is not ready while no gateway listens", async () => {
    const dir = stateDir();
    const readyPort = await freePort();
    // A gateway that never listens: the supervisor's listener is up, the gateway's port is not.
    await supervisor(dir, "r1", "rev-1", {
      command: [process.execPath, "-e", "setInterval(() => {}, 1000)"],
      env: { SHIRE_READY_PORT: String(readyPort), SHIRE_GATEWAY_READY_PATH: "/startupz" },
    });
    const verdict = await answer(readyPort, "/ready");
    expect(verdict).toMatchObject({ status: 503, body: { ready: false } });
    expect(verdict !== "refused" && String(verdict.body.reason)).toContain("the gateway did not answer");
  });
});

describe("the Container App runs the seed and the gateway under the supervisor", () => {
  it("wraps the init container's seed (once) and the gateway container's command (run)", () => {
    const spec = buildOpenClawContainerSpec({
      image: "ghcr.io/openclaw/openclaw:2026.9.6",
      appOrigin: "https://openclaw.example",
      channels: { teams: false, whatsapp: false },
      secretNames: { gatewayToken: "gateway-token" },
      plugins: [],
      volumeName: "state",
      resources: { cpu: 1, memory: "2Gi" },
    });
    expect(spec.initContainers[0].command).toEqual([
      "node",
      "-e",
      gatewaySupervisorScript(),
      "once",
      "node",
      "-e",
      seedScript(),
    ]);
    expect(spec.containers[0].args).toEqual([
      "node",
      "-e",
      gatewaySupervisorScript(),
      "run",
      "node",
      "openclaw.mjs",
      "gateway",
      "--bind",
      "lan",
      "--port",
      "18789",
    ]);
    // The supervisor finds the share and the port the probes target in the container's environment.
    const env = Object.fromEntries(
      spec.containers[0].env.map((entry) => [entry.name, "value" in entry ? entry.value : undefined]),
    );
    expect(env).toMatchObject({
      OPENCLAW_STATE_DIR: "/home/node/.openclaw",
      OPENCLAW_GATEWAY_PORT: "18789",
      SHIRE_READY_PORT: "18790",
      SHIRE_GATEWAY_READY_PATH: "/startupz",
    });
    // The readiness probe asks the supervisor's listener, which reads the gateway's JSON.
    const readiness = spec.containers[0].probes.find((probe) => probe.type === "Readiness");
    expect(readiness && "httpGet" in readiness ? readiness.httpGet : undefined).toEqual({
      path: "/ready",
      port: 18790,
    });
    expect(spec.initContainers[0].env.find((entry) => entry.name === "OPENCLAW_STATE_DIR")?.value).toBe(
      "/home/node/.openclaw",
    );
  });
});
