// Keeps exactly one OpenClaw process on the state share at a time (docs/state.md).
//
// Container Apps starts a new revision while the old one still runs (the old one is stopped only
// once the new one is ready), so two replicas mount the same Azure Files share. This supervisor is
// the command of the gateway container (`run`) and wraps the seed init container (`once`): the
// command after the mode word starts only while this replica holds the state lease, a series of
// generation files in $OPENCLAW_STATE_DIR/.shire/lease:
//
//   gen-<n>.json   created with O_EXCL (atomic on SMB2+ and on local disks): exactly one process
//                  wins generation n; its holder rewrites it in place every few seconds (a counter,
//                  never a clock: observers time it by their own monotonic clock) and marks it
//                  `released` (or `handoff`, see below) when it lets go. The lease belongs to the
//                  highest generation; its holder stops its command at once when a higher one exists.
//   takeover.json  written (by rename) by a newer process that wants the lease; the holder stops its
//                  command gracefully (SIGTERM, then SIGKILL after SHIRE_TAKEOVER_STOP_SECONDS),
//                  marks its generation released, and stands by.
//
// A process may create generation n+1 when generation n is released, is its own replica's (a
// previous incarnation or the init container of the same replica), or has not changed for
// SHIRE_LEASE_STALE_SECONDS (its holder was killed). A holder that cannot renew for
// SHIRE_LEASE_FENCE_SECONDS (less than the stale time) kills its command, so it is gone before
// anyone may treat its lease as stale. A holder that stood by for a contender that never took the
// lease (SHIRE_TAKEOVER_TIMEOUT_SECONDS) takes it back and restarts its gateway; a standby also
// resumes when the new holder releases or goes stale. While standing by, `run` answers the
// gateway's port itself: /healthz 200 (so liveness does not restart it into contention), anything
// else 503 (never ready). While waiting for the lease it does not listen: the startup probe fails.
//
//   node -e <this> run node openclaw.mjs gateway ...    the gateway; exits with the gateway's code
//   node -e <this> once node -e <seed-config.js>        the init container; on success the lease is
//                                                       left as `handoff` for this replica's gateway
//
// Readiness judged by the body (SHIRE_READY_PORT set): `run` also answers GET /ready on that port,
// 200 only when the gateway's own readiness path (SHIRE_GATEWAY_READY_PATH: /startupz, or /readyz)
// answers 200 with a JSON body that says so ({"ready":true} or {"ok":true,...}), else 503 with the
// reason. Container Apps' probes read only the status, and the gateway's Control UI answers any path
// it does not serve with 200 and HTML: the readiness probe targets this listener instead.
//
// Signals: SIGTERM/SIGINT stop the command gracefully (SIGKILL after SHIRE_GATEWAY_STOP_SECONDS)
// and release the lease. Plain CommonJS (runs
// with `node -e` in the official image). Owner = CONTAINER_APP_REPLICA_NAME (else the host name);
// CONTAINER_APP_REVISION is recorded for the logs.
"use strict";
const fs = require("node:fs");
const fsp = require("node:fs/promises");
const os = require("node:os");
const path = require("node:path");
const http = require("node:http");
const crypto = require("node:crypto");
const { Buffer } = require("node:buffer");
const { spawn } = require("node:child_process");
const { performance } = require("node:perf_hooks");
const timers = require("node:timers");

const argv = process.argv.slice(typeof module !== "undefined" && require.main === module ? 2 : 1);
const [mode, ...command] = argv;
const env = process.env;
const ms = (name, fallbackSeconds) => {
  const value = Number(env[name]);
  return Math.round((Number.isFinite(value) && value > 0 ? value : fallbackSeconds) * 1000);
};
const STATE_DIR = env.OPENCLAW_STATE_DIR || path.join(os.homedir(), ".openclaw");
const LEASE_DIR = env.SHIRE_LEASE_DIR || path.join(STATE_DIR, ".shire", "lease");
const POLL = ms("SHIRE_LEASE_POLL_SECONDS", 2);
const RENEW = ms("SHIRE_LEASE_RENEW_SECONDS", 5);
const STALE = ms("SHIRE_LEASE_STALE_SECONDS", 30);
const FENCE = Math.min(ms("SHIRE_LEASE_FENCE_SECONDS", 20), Math.floor((STALE * 2) / 3));
const HANDOFF = ms("SHIRE_LEASE_HANDOFF_SECONDS", 120);
const TAKEOVER = ms("SHIRE_TAKEOVER_TIMEOUT_SECONDS", 60);
// Graceful stop before SIGKILL: on the platform's SIGTERM it must fit the replica's termination
// grace period (30 s by default); for a takeover there is no platform deadline, and a gateway that
// drains its runs and exits cleanly also releases OpenClaw's own owner lease in the state database.
const STOP = ms("SHIRE_GATEWAY_STOP_SECONDS", 25);
const TAKEOVER_STOP = ms("SHIRE_TAKEOVER_STOP_SECONDS", 60);
const PORT = Number(env.OPENCLAW_GATEWAY_PORT || 18789);
const OWNER = env.CONTAINER_APP_REPLICA_NAME || os.hostname();
const REVISION = env.CONTAINER_APP_REVISION || "";
const RECORD_BYTES = 512;
const TAKEOVER_FILE = path.join(LEASE_DIR, "takeover.json");

const now = () => performance.now();
const sleep = (delay) => new Promise((resolve) => timers.setTimeout(resolve, delay));
const log = (message) =>
  console.error(
    `[gateway-supervisor] ${new Date().toISOString()} ${OWNER}${REVISION ? ` (${REVISION})` : ""}: ${message}`,
  );
const genFile = (gen) => path.join(LEASE_DIR, `gen-${String(gen).padStart(12, "0")}.json`);

// ---- signals -------------------------------------------------------------------------------
let terminating = false;
let wake = () => {};
for (const signal of ["SIGTERM", "SIGINT"])
  process.on(signal, () => {
    log(`${signal} received`);
    terminating = true;
    wake();
  });
/** Sleeps for `delay` ms, or less when a signal arrives. */
function pause(delay) {
  return new Promise((resolve) => {
    const timer = timers.setTimeout(resolve, delay);
    wake = () => {
      timers.clearTimeout(timer);
      resolve();
    };
  });
}

// ---- the lease files ---------------------------------------------------------------------------
/** The highest generation: {gen, raw, record} (record undefined when not parseable yet), or null. */
async function top() {
  const gens = (await fsp.readdir(LEASE_DIR))
    .map((name) => /^gen-(\d+)\.json$/.exec(name))
    .filter(Boolean)
    .map((match) => Number(match[1]));
  if (gens.length === 0) return null;
  const gen = Math.max(...gens);
  let raw = "";
  try {
    raw = await fsp.readFile(genFile(gen), "utf8");
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  let record;
  try {
    record = JSON.parse(raw.trim());
  } catch {
    record = undefined;
  }
  return { gen, raw, record };
}

/** When each generation's content last changed, by this process's own clock. */
const seen = new Map();
function unchangedFor(t) {
  const last = seen.get(t.gen);
  if (!last || last.raw !== t.raw) {
    seen.set(t.gen, { raw: t.raw, since: now() });
    return 0;
  }
  return now() - last.since;
}

function encode(record) {
  const text = JSON.stringify(record);
  return Buffer.from(text.padEnd(Math.max(RECORD_BYTES, text.length + 1), " "));
}

/** Creates generation `gen` (O_EXCL) and returns its holder, or null when another process won it. */
async function create(gen) {
  let handle;
  try {
    handle = await fsp.open(genFile(gen), "wx", 0o600);
  } catch (error) {
    if (error.code === "EEXIST") return null;
    throw error;
  }
  const holder = { gen, handle, counter: 0, lastRenew: now() };
  await write(holder, "held");
  return holder;
}

async function write(holder, state, extra = {}) {
  holder.counter += 1;
  const buffer = encode({
    v: 1,
    gen: holder.gen,
    owner: OWNER,
    revision: REVISION,
    pid: process.pid,
    state,
    counter: holder.counter,
    time: new Date().toISOString(),
    ...extra,
  });
  await holder.handle.write(buffer, 0, buffer.length, 0);
  await holder.handle.sync();
  holder.lastRenew = now();
}

/** Lets go of the lease: `released` (anyone may take it) or `handoff` (this replica's gateway takes it). */
async function letGo(holder, state = "released", extra = {}) {
  try {
    await write(holder, state, extra);
    log(`lease generation ${holder.gen} ${state}`);
  } catch (error) {
    log(`could not mark generation ${holder.gen} ${state} (${error.message}); it goes stale instead`);
  }
  await holder.handle.close().catch(() => {});
}

/**
 * A higher generation exists (someone took the lease), or this one is gone (someone deleted the
 * lease files, and anyone may start again from generation 1). Two stats, not a listing: listings
 * cost more on Azure Files.
 */
async function superseded(holder) {
  const exists = (file) =>
    fsp.stat(file).then(
      () => true,
      (error) => {
        if (error.code === "ENOENT") return false;
        throw error;
      },
    );
  return (await exists(genFile(holder.gen + 1))) || !(await exists(genFile(holder.gen)));
}

async function readTakeover() {
  try {
    return JSON.parse(await fsp.readFile(TAKEOVER_FILE, "utf8"));
  } catch {
    return undefined;
  }
}

async function requestTakeover(gen) {
  const request = { id: crypto.randomUUID(), owner: OWNER, revision: REVISION, gen, time: new Date().toISOString() };
  const temp = path.join(LEASE_DIR, `takeover.${OWNER}.${process.pid}.tmp`);
  await fsp.writeFile(temp, JSON.stringify(request));
  await fsp.rename(temp, TAKEOVER_FILE);
  return request;
}

async function withdrawTakeover(request) {
  if (!request) return;
  const current = await readTakeover();
  if (current && current.id === request.id) await fsp.rm(TAKEOVER_FILE, { force: true }).catch(() => {});
}

/** Old generations are only history: keep the last few. */
async function collect(gen) {
  for (const name of await fsp.readdir(LEASE_DIR).catch(() => [])) {
    const match = /^gen-(\d+)\.json$/.exec(name);
    if (match && Number(match[1]) < gen - 4) await fsp.rm(path.join(LEASE_DIR, name), { force: true }).catch(() => {});
  }
}

// ---- acquiring -----------------------------------------------------------------------------
/** What this process gave up (it yielded to a contender): taken back only after TAKEOVER. */
let yielded;

/**
 * Waits until this process holds the lease. `passive` (after yielding or losing it): never asks
 * the holder to stop, only takes a released or stale lease. Returns null when a signal arrives.
 */
async function acquire(passive) {
  let request;
  let waitingLogged = false;
  while (!terminating) {
    try {
      const current = await top();
      let next = 1;
      let may = current === null;
      if (current) {
        next = current.gen + 1;
        const idle = unchangedFor(current);
        const record = current.record;
        const mine = record !== undefined && record.owner === OWNER;
        if (yielded && yielded.gen === current.gen) may = now() - yielded.at >= TAKEOVER;
        else if (mine) may = true;
        else if (record && record.state === "released") may = true;
        else may = idle >= (record && record.state === "handoff" ? HANDOFF : STALE);
        if (!may && !passive && !mine && (!request || request.gen !== current.gen)) {
          request = await requestTakeover(current.gen);
          log(`lease generation ${current.gen} is held by ${record ? record.owner : "?"}: asked it to hand over`);
        } else if (!may && !waitingLogged) {
          log(
            `waiting for lease generation ${current.gen} (${record ? `${record.owner}, ${record.state}` : "unreadable"})`,
          );
          waitingLogged = true;
        }
        if (may && yielded && yielded.gen === current.gen)
          log(`no one took the lease within ${TAKEOVER / 1000} s: taking it back`);
      }
      if (may) {
        const holder = await create(next);
        if (holder) {
          log(`holding lease generation ${next}`);
          yielded = undefined;
          await withdrawTakeover(request);
          await collect(next);
          return holder;
        }
        continue;
      }
    } catch (error) {
      log(`lease check failed: ${error.message}`);
    }
    await pause(POLL);
  }
  await withdrawTakeover(request).catch(() => {});
  return null;
}

// ---- the command -------------------------------------------------------------------------------
let running;
function start(args) {
  const child = spawn(args[0], args.slice(1), { stdio: "inherit", detached: true, env: process.env });
  child.exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", (error) => {
      log(`could not start ${args[0]}: ${error.message}`);
      resolve({ code: 127, signal: null });
    });
  });
  child.done = false;
  child.exited.then(() => {
    child.done = true;
    signalGroup(child, "SIGKILL"); // whatever it left behind in its process group
  });
  log(`started ${path.basename(args[0])} (pid ${child.pid})`);
  running = child;
  return child;
}

function signalGroup(child, signal) {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL after `grace` ms (or STOP ms after a signal reaches this supervisor). */
async function stop(child, grace) {
  if (!child.done) {
    signalGroup(child, "SIGTERM");
    const started = now();
    let signalled = terminating ? started : undefined;
    while (!child.done) {
      if (terminating && signalled === undefined) signalled = now();
      if (now() >= Math.min(started + grace, signalled === undefined ? Infinity : signalled + STOP)) {
        log(`pid ${child.pid} still running after ${Math.round((now() - started) / 1000)} s: SIGKILL`);
        signalGroup(child, "SIGKILL");
        break;
      }
      await sleep(100);
    }
  }
  const result = await child.exited;
  log(`pid ${child.pid} stopped (${result.signal || `exit ${result.code}`})`);
  return result;
}

/**
 * Runs the command while holding the lease. Resolves with why it ended: exit (by itself), signal,
 * takeover (a newer process asked), lost (a higher generation exists) or fenced (renewals failed).
 * On lost and fenced the command has already been killed.
 */
function hold(holder, child) {
  return new Promise((resolve) => {
    let ended = false;
    const end = (outcome) => {
      if (ended) return;
      ended = true;
      timers.clearInterval(fence);
      wake = () => {};
      resolve(outcome);
    };
    child.exited.then((result) => end({ reason: "exit", ...result }));
    wake = () => end({ reason: "signal" });
    if (terminating) end({ reason: "signal" });
    const fence = timers.setInterval(
      () => {
        if (now() - holder.lastRenew > FENCE) {
          log(`lease not renewed for ${FENCE / 1000} s: killing pid ${child.pid} before anyone may take over`);
          signalGroup(child, "SIGKILL");
          end({ reason: "fenced" });
        }
      },
      Math.min(500, POLL),
    );
    const handled = new Set();
    (async () => {
      let lastWrite = now();
      while (!ended) {
        try {
          if (await superseded(holder)) {
            if (ended) return;
            log(`lease generation ${holder.gen} was taken over: killing pid ${child.pid} at once`);
            signalGroup(child, "SIGKILL");
            return end({ reason: "lost" });
          }
          const request = await readTakeover();
          if (request && request.gen === holder.gen && request.owner !== OWNER && !handled.has(request.id)) {
            handled.add(request.id);
            log(`${request.owner}${request.revision ? ` (${request.revision})` : ""} asks for the lease: handing over`);
            return end({ reason: "takeover", request });
          }
          if (now() - lastWrite >= RENEW) {
            lastWrite = now();
            await write(holder, "held");
          }
        } catch (error) {
          log(`lease renewal failed: ${error.message}`);
        }
        await sleep(POLL);
      }
    })();
  });
}

// ---- standing by ---------------------------------------------------------------------------------
let standby;
function standBy() {
  if (standby || mode !== "run") return;
  standby = http.createServer((request, response) => {
    const live = request.url === "/healthz" || request.url === "/health";
    response.writeHead(live ? 200 : 503, { "content-type": "application/json" });
    response.end(
      JSON.stringify(live ? { ok: true, status: "standby" } : { ok: false, ready: false, status: "standby" }),
    );
  });
  standby.on("error", (error) => log(`standby listener: ${error.message}`));
  standby.listen(PORT);
  log(`standing by (port ${PORT}: /healthz 200, everything else 503)`);
}
async function wakeUp() {
  if (!standby) return;
  const server = standby;
  standby = undefined;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(() => resolve()));
}

// ---- readiness, judged by the body ---------------------------------------------------------------
const READY_PORT = Number(env.SHIRE_READY_PORT || 0);
const READY_PATH = env.SHIRE_GATEWAY_READY_PATH || "/readyz";
function readinessVerdict(statusCode, text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { ready: false, reason: `${READY_PATH} answered ${statusCode} without JSON` };
  }
  const says = body !== null && typeof body === "object" && (body.ready === true || body.ok === true);
  return statusCode === 200 && says
    ? { ready: true, gateway: body }
    : { ready: false, reason: `${READY_PATH} answered ${statusCode} ${JSON.stringify(body).slice(0, 300)}` };
}
function serveReadiness() {
  if (mode !== "run" || !READY_PORT) return;
  const server = http.createServer((request, response) => {
    const answer = (code, body) => {
      response.writeHead(code, { "content-type": "application/json", "cache-control": "no-store" });
      response.end(JSON.stringify(body));
    };
    if (request.url !== "/ready") return answer(404, { ready: false, reason: "not found" });
    const upstream = http.get({ host: "127.0.0.1", port: PORT, path: READY_PATH, timeout: 3000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        if (text.length < 65536) text += chunk;
      });
      res.on("end", () => {
        const verdict = readinessVerdict(res.statusCode, text);
        answer(verdict.ready ? 200 : 503, verdict);
      });
    });
    upstream.on("timeout", () => upstream.destroy(new Error("timed out")));
    upstream.on("error", (error) =>
      answer(503, { ready: false, reason: `the gateway did not answer: ${error.message}` }),
    );
  });
  server.on("error", (error) => log(`readiness listener: ${error.message}`));
  server.listen(READY_PORT);
  server.unref();
}

// ---- modes ---------------------------------------------------------------------------------------
async function run() {
  serveReadiness();
  let passive = false;
  for (;;) {
    const holder = await acquire(passive);
    if (!holder) break;
    await wakeUp();
    const child = start(command);
    const outcome = await hold(holder, child);
    if (outcome.reason === "exit") {
      log(`the gateway exited (${outcome.signal || `exit ${outcome.code}`}) on its own`);
      await letGo(holder);
      process.exit(outcome.code === null || outcome.code === undefined ? 1 : outcome.code);
    }
    if (outcome.reason === "signal") {
      await stop(child, STOP);
      await letGo(holder);
      break;
    }
    if (outcome.reason === "takeover") {
      await stop(child, TAKEOVER_STOP);
      await letGo(holder, "released", { to: outcome.request.owner });
      yielded = { gen: holder.gen, at: now() };
    } else {
      await child.exited;
      if (outcome.reason === "fenced") await letGo(holder);
      else await holder.handle.close().catch(() => {});
    }
    passive = true;
    standBy();
  }
  await wakeUp();
  log("exiting");
  process.exit(0);
}

async function once() {
  const holder = await acquire(false);
  if (!holder) process.exit(143);
  const child = start(command);
  const outcome = await hold(holder, child);
  if (outcome.reason === "exit" && outcome.code === 0) {
    await letGo(holder, "handoff");
    process.exit(0);
  }
  if (outcome.reason === "exit") {
    await letGo(holder);
    process.exit(outcome.code === null || outcome.code === undefined ? 1 : outcome.code);
  }
  if (outcome.reason === "signal" || outcome.reason === "takeover")
    await stop(child, outcome.reason === "signal" ? STOP : TAKEOVER_STOP);
  else await child.exited;
  if (outcome.reason !== "lost") await letGo(holder);
  log(`${path.basename(command[0] || "")} did not finish (${outcome.reason}): the init container will retry`);
  process.exit(outcome.reason === "signal" ? 143 : 75);
}

if ((mode !== "run" && mode !== "once") || command.length === 0) {
  console.error("usage: gateway-supervisor.js run|once <command> [args...]");
  process.exit(64);
}
fs.mkdirSync(LEASE_DIR, { recursive: true });
/** A supervisor bug must not leave its command running without the lease. */
function fatal(error) {
  log(`fatal: ${error.stack || error.message}`);
  if (running && !running.done) signalGroup(running, "SIGKILL");
  process.exit(70);
}
process.on("uncaughtException", fatal);
(mode === "run" ? run() : once()).catch(fatal);
