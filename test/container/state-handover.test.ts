/**
 * A revision change with the real OpenClaw gateway (2026.9.6) on one state directory, run exactly
 * as the Container App runs it: the seed init container and the gateway container's command come
 * from the generated template (under gateway-supervisor.js, with its production timings); replica
 * A is the old revision, replica B the new one. The Azure Files mount becomes a temp dir; each
 * replica gets its own gateway port (in Azure each replica has its own network namespace) and, where
 * the machine allows it (`unshare -u`, as root), its own host name: OpenClaw reclaims its owner lease
 * from a dead gateway only on the same host name, as a replica restarting in place does.
 * Asserts that the two gateways never answer at the same time, that B's gateway starts only after
 * A's has exited, that B answers /healthz and works on the state A wrote (A's device identity),
 * and that B's gateway container, killed and restarted in place, gets the lease back at once.
 * Needs `bash scripts/setup-openclaw.sh` (npm run test:container does it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { OPENCLAW_PORTS } from "../../src/model/openclaw";
import { freePort } from "../../src/runtime/azurite";
import { NODE24, Replicas, exited, openclawEntry, query, slugContainers } from "./replicas";

const OPENCLAW = openclawEntry();
const replicas = new Replicas("shire-handover-");
const { stateDir, output } = replicas;
const OWN_HOSTNAME = replicas.ownHostNames;
const start = (name: string, replica: string, args: string[], env: Record<string, string>) =>
  replicas.start(name, replica, args, env);
const envFor = (container: Parameters<Replicas["envFor"]>[0], replica: string, revision: string, port?: number) =>
  replicas.envFor(container, replica, revision, port);
const logs = () => replicas.logs();
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number) =>
  replicas.until(what, probe, timeoutMs);
const template = () => slugContainers("handover");

async function healthz(port: number): Promise<string | undefined> {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { ok?: boolean; status?: string };
    return body.ok ? body.status : undefined;
  } catch {
    return undefined;
  }
}

/** Times of supervisor log lines (`[gateway-supervisor] <ISO time> <owner> (<revision>): <message>`). */
function supervisorEvents(name: string, pattern: RegExp): number[] {
  const times: number[] = [];
  for (const line of output[name].join("").split("\n")) {
    const match = /^\[gateway-supervisor\] (\S+) .*?: (.*)$/.exec(line);
    if (match && pattern.test(match[2])) times.push(Date.parse(match[1]));
  }
  return times;
}
const supervisorEvent = (name: string, pattern: RegExp): number | undefined => supervisorEvents(name, pattern)[0];

/** SQLite's header: bytes 18/19 are 2 in WAL mode, 1 with a rollback journal. */
function journalFormat(file: string): number {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, "r");
  fs.readSync(fd, header, 0, 20, 0);
  fs.closeSync(fd);
  return header[18];
}

/** OpenClaw's own record of which process owns the gateway (state_leases, scope gateway-owner). */
function gatewayOwner(database: string): { host?: string; pid?: number } | undefined {
  const row = query(database, "SELECT payload_json FROM state_leases WHERE scope = 'gateway-owner'")[0];
  return row ? (JSON.parse(String(row.payload_json)) as { owner: { host?: string; pid?: number } }).owner : undefined;
}

/** A replica dies: SIGKILL to its supervisor's and its gateway's process groups. */
function killReplica(supervisor: ChildProcess, gatewayPid: number) {
  for (const pid of [supervisor.pid!, gatewayPid])
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
}

afterAll(() => replicas.stopAll());

describe("a revision change with the real OpenClaw gateway", () => {
  it("stops the old gateway before the new one starts, and the new one answers on the old one's state", async () => {
    expect(
      fs.existsSync(OPENCLAW),
      `OpenClaw is not installed at ${OPENCLAW}: run bash scripts/setup-openclaw.sh`,
    ).toBe(true);
    const { seed, gateway } = template();
    const seedArgs = seed.command!.slice(1);
    expect(seedArgs[2]).toBe("once");
    // The gateway container's command, with the local install for the image's /app/openclaw.mjs.
    const gatewayArgs = (port: number) =>
      gateway
        .args!.slice(1)
        .map((arg) =>
          arg === "openclaw.mjs" ? OPENCLAW : arg === String(OPENCLAW_PORTS.gateway) ? String(port) : arg,
        );
    expect(gateway.args![0]).toBe("node");
    expect(gatewayArgs(1)[2]).toBe("run");

    // Revision 1: its init container seeds the share, then its gateway starts.
    const seedA = spawnSync(NODE24, seedArgs, {
      env: { ...envFor(seed, "replica-a", "openclaw--rev1"), OPENCLAW_ENTRY: OPENCLAW },
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(seedA.status, `${seedA.stdout}\n${seedA.stderr}`).toBe(0);
    const portA = await freePort();
    const a = start(
      "replica-a",
      "replica-a",
      gatewayArgs(portA),
      envFor(gateway, "replica-a", "openclaw--rev1", portA),
    );
    expect(
      await until("A's gateway", async () => ((await healthz(portA)) === "live" ? true : undefined), 180_000),
    ).toBe(true);
    const configByA = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8")) as Record<
      string,
      unknown
    >;
    const database = path.join(stateDir, "state", "openclaw.sqlite");
    expect(fs.existsSync(database)).toBe(true);
    // On a local disk OpenClaw keeps its state database in WAL mode (on SMB it picks a rollback journal).
    expect(journalFormat(database)).toBe(2);
    const databaseInode = fs.statSync(database).ino;
    // What A wrote on first start: the gateway's device identity (its key pair), and its owner lease.
    const identityByA = query(database, "SELECT device_id, public_key_pem FROM device_identities");
    expect(identityByA).toHaveLength(1);
    const ownerA = gatewayOwner(database);
    expect(ownerA?.pid).toBeGreaterThan(0);
    if (OWN_HOSTNAME) expect(ownerA?.host).toBe("replica-a");

    // Watch both gateways' ports throughout the handover: never two live gateways.
    const portB = await freePort();
    const both: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const [stateA, stateB] = await Promise.all([healthz(portA), healthz(portB)]);
        if (stateA === "live" && stateB === "live") both.push(new Date().toISOString());
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    // Revision 2: its init container asks A for the lease, seeds, and hands the lease to B's gateway.
    const seedStarted = Date.now();
    const seedB = start("seed-b", "replica-b", seedArgs, {
      ...envFor(seed, "replica-b", "openclaw--rev2"),
      OPENCLAW_ENTRY: OPENCLAW,
    });
    expect(await exited(seedB), logs()).toBe(0);
    const seedDone = Date.now();
    expect(await healthz(portA), "A's gateway stopped for the seed; A stands by").toBe("standby");
    const b = start(
      "replica-b",
      "replica-b",
      gatewayArgs(portB),
      envFor(gateway, "replica-b", "openclaw--rev2", portB),
    );
    expect(
      await until("B's gateway", async () => ((await healthz(portB)) === "live" ? true : undefined), 180_000),
    ).toBe(true);
    const live = Date.now();
    watching = false;
    await watcher;
    expect(both, logs()).toEqual([]);

    // From the supervisors' own logs: A's gateway exited before the seed ran and before B's started.
    const aStopped = supervisorEvent("replica-a", /^pid \d+ stopped/);
    const seedHeld = supervisorEvent("seed-b", /^holding lease/);
    const bStarted = supervisorEvent("replica-b", /^started node/);
    expect(aStopped, logs()).toBeDefined();
    expect(seedHeld!).toBeGreaterThanOrEqual(aStopped!);
    expect(bStarted!).toBeGreaterThanOrEqual(aStopped!);
    expect(supervisorEvent("replica-a", /asks for the lease/)).toBeDefined();
    expect(a.exitCode).toBeNull();

    // B works on A's state: the same database, A's device identity, A's config; OpenClaw's owner is B now.
    expect(fs.statSync(database).ino).toBe(databaseInode);
    expect(query(database, "SELECT device_id, public_key_pem FROM device_identities")).toEqual(identityByA);
    const configNow = JSON.parse(fs.readFileSync(path.join(stateDir, "openclaw.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(configNow.gateway).toEqual(configByA.gateway);
    const ownerB = gatewayOwner(database);
    expect(ownerB?.pid).not.toBe(ownerA?.pid);
    if (OWN_HOSTNAME) expect(ownerB?.host).toBe("replica-b");

    // B's gateway container dies (SIGKILL, lease and OpenClaw's owner row left behind) and Container
    // Apps restarts it in the same replica: the lease is its own, so it starts without waiting for
    // the lease to go stale, and OpenClaw reclaims its dead owner on the same host name. A, still
    // standing by, does not take over in between (the lease is not stale).
    const gatewayPidB = ownerB!.pid!;
    killReplica(b, gatewayPidB);
    await exited(b);
    const killedAt = Date.now();
    const restarted = start("replica-b-restarted", "replica-b", gatewayArgs(portB), {
      ...envFor(gateway, "replica-b", "openclaw--rev2", portB),
    });
    expect(
      await until(
        "B's gateway after its restart",
        async () => ((await healthz(portB)) === "live" ? true : undefined),
        180_000,
      ),
    ).toBe(true);
    const restartedLive = Date.now();
    expect(supervisorEvent("replica-b-restarted", /^holding lease/)! - killedAt).toBeLessThan(5_000);
    expect(supervisorEvents("replica-a", /^holding lease/), logs()).toHaveLength(1);
    expect(await healthz(portA)).toBe("standby");

    // Container Apps deactivates the old revision: A exits from standby; then B is stopped too.
    a.kill("SIGTERM");
    expect(await exited(a)).toBe(0);
    const stopAsked = Date.now();
    restarted.kill("SIGTERM");
    expect(await exited(restarted), logs()).toBe(0);
    const stopped = Date.now();
    expect(query(database, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
    expect(gatewayOwner(database), "a gateway that stops cleanly releases OpenClaw's owner lease").toBeUndefined();
    fs.writeFileSync(
      path.join(os.tmpdir(), "shire-handover-timings.json"),
      JSON.stringify(
        {
          ownHostNames: OWN_HOSTNAME,
          oldStoppedAndSeedMs: seedDone - seedStarted,
          newGatewayLiveMs: live - seedDone,
          restartInPlaceLiveMs: restartedLive - killedAt,
          gatewayStopOnSigtermMs: stopped - stopAsked,
        },
        null,
        2,
      ),
    );
  });
});
