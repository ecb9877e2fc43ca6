/**
 * The NGINX sidecar configuration, run by real nginx on loopback with stub upstreams: the Teams
 * port receives only `POST /api/messages`, everything else (HTTP and WebSocket) reaches the
 * gateway, and every upstream gets the client nginx recovered from X-Forwarded-For behind the
 * platform's hops, never the chain as sent. nginx must be installed (`npm test` installs it); a
 * missing nginx fails, not skips.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { PLATFORM_HOPS, renderNginxConfig } from "../../src/model/nginx";
import { freePort } from "../../src/runtime/azurite";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((candidate) => fs.existsSync(candidate));

/** Whether an IPv4 address lies in a CIDR range. */
function inRange(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const toNumber = (ip: string) => ip.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(address) / size) === Math.floor(toNumber(base) / size);
}

interface Stub {
  port: number;
  hits: { method: string; url: string; upgrade: boolean }[];
  close(): Promise<void>;
}

async function stub(name: string, withWebSocket = false): Promise<Stub> {
  const hits: Stub["hits"] = [];
  const server = http.createServer((req, res) => {
    hits.push({ method: req.method ?? "", url: req.url ?? "", upgrade: false });
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        from: name,
        host: req.headers.host ?? null,
        forwardedProto: req.headers["x-forwarded-proto"] ?? null,
        forwardedHost: req.headers["x-forwarded-host"] ?? null,
        forwardedFor: req.headers["x-forwarded-for"] ?? null,
        realIp: req.headers["x-real-ip"] ?? null,
      }),
    );
  });
  if (withWebSocket) {
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) => {
      hits.push({ method: req.method ?? "", url: req.url ?? "", upgrade: true });
      wss.handleUpgrade(req, socket, head, (ws) =>
        ws.send(JSON.stringify({ type: "event", event: "connect.challenge", from: name })),
      );
    });
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface RunningNginx {
  port: number;
  child: ChildProcess;
  dir: string;
}

async function startNginx(config: string, port: number): Promise<RunningNginx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shire-nginx-"));
  // Each test nginx gets its own pid and temp paths; everything else is the generated config.
  const file = path.join(dir, "nginx.conf");
  fs.writeFileSync(file, config.replace(/\/tmp\/nginx/g, path.join(dir, "nginx")));
  // stdout is a real file: the config logs to /dev/stdout, which nginx cannot open on the
  // socketpair Node uses for piped stdio (in a container it is a pipe or a tty).
  const stdout = fs.openSync(path.join(dir, "stdout.log"), "a");
  const check = spawnSync(NGINX!, ["-t", "-c", file, "-p", dir], {
    encoding: "utf8",
    stdio: ["ignore", stdout, "pipe"],
  });
  expect(check.status, check.stderr.replace(/\n/g, " | ")).toBe(0);
  const child = spawn(NGINX!, ["-c", file, "-p", dir, "-g", "daemon off;"], { stdio: ["ignore", stdout, "pipe"] });
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/__probe`).then(
      () => true,
      () => false,
    );
    if (up) return { port, child, dir };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("nginx did not start");
}

async function request(
  port: number,
  method: string,
  url: string,
  headers: Record<string, string> = {},
  host = "127.0.0.1",
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Raw http so paths are sent exactly as written (fetch would normalise them).
    const req = http.request(
      { host, port, method, path: url, headers: { "content-type": "application/json", ...headers } },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}

describe("NGINX sidecar with real nginx", () => {
  let gateway: Stub;
  let teams: Stub;
  let telegram: Stub;
  let withTelegram: RunningNginx;
  let teamsOnly: RunningNginx;

  beforeAll(async () => {
    expect(NGINX, "nginx is not installed: run `apt-get install nginx-light` (.ci/run does)").toBeDefined();
    gateway = await stub("gateway", true);
    teams = await stub("teams");
    telegram = await stub("telegram");
    const port1 = await freePort();
    withTelegram = await startNginx(
      renderNginxConfig({
        listenPort: port1,
        gatewayPort: gateway.port,
        teamsPort: teams.port,
        telegram: { path: "/telegram-webhook", port: telegram.port },
      }),
      port1,
    );
    const port2 = await freePort();
    teamsOnly = await startNginx(
      renderNginxConfig({ listenPort: port2, gatewayPort: gateway.port, teamsPort: teams.port }),
      port2,
    );
  });

  afterAll(async () => {
    for (const running of [withTelegram, teamsOnly]) running?.child.kill("SIGTERM");
    await Promise.all([gateway, teams, telegram].filter(Boolean).map((server) => server.close()));
  });

  it("sends POST /api/messages to the Teams port and nothing else there", async () => {
    const before = teams.hits.length;
    const posted = await request(withTelegram.port, "POST", "/api/messages");
    expect(JSON.parse(posted.body)).toMatchObject({ from: "teams", forwardedProto: "https" });
    expect(teams.hits.length).toBe(before + 1);

    for (const [method, url] of [
      ["GET", "/api/messages"],
      ["PUT", "/api/messages"],
      ["DELETE", "/api/messages"],
      ["POST", "/api/messages/x"],
      ["POST", "/api/messagesx"],
      ["POST", "/API/messages"],
      ["POST", "/api/messages%2F.."],
      ["GET", "/api/messages?x=1"],
      ["POST", "/"],
      ["POST", "/x/api/messages"],
    ]) {
      const response = await request(withTelegram.port, method, url);
      expect(response.body.includes('"from":"teams"'), `${method} ${url} reached the Teams port`).toBe(false);
    }
    expect(teams.hits.length).toBe(before + 1);
    // Other methods on the webhook path are refused at the sidecar.
    expect((await request(withTelegram.port, "GET", "/api/messages")).status).toBe(403);
  });

  it("sends / and everything else to the gateway, with the client's host and the proxy headers", async () => {
    const response = await request(withTelegram.port, "GET", "/", {
      host: "openclaw.demo.westeurope.azurecontainerapps.io",
      "x-forwarded-for": "203.0.113.7",
    });
    // The gateway builds its origin checks and CSP from these: the public host, https, the client.
    expect(JSON.parse(response.body)).toMatchObject({
      from: "gateway",
      host: "openclaw.demo.westeurope.azurecontainerapps.io",
      forwardedHost: "openclaw.demo.westeurope.azurecontainerapps.io",
      forwardedProto: "https",
      forwardedFor: "203.0.113.7",
      realIp: "203.0.113.7",
    });
    expect(JSON.parse((await request(withTelegram.port, "GET", "/healthz")).body)).toMatchObject({ from: "gateway" });
    expect(JSON.parse((await request(withTelegram.port, "POST", "/api/other")).body)).toMatchObject({
      from: "gateway",
    });
  });

  // These requests come from 127.0.0.1, as from the sign-in middleware (a sidecar in the replica):
  // X-Forwarded-For holds what the hops before it saw. The gateway gets one address, the client's.
  it.each([
    ["the client alone (the sign-in sidecar passed Envoy's header on)", "203.0.113.7", "203.0.113.7"],
    ["the client and Envoy's address (a hop that appends its peer)", "203.0.113.7, 100.100.0.52", "203.0.113.7"],
    ["an Envoy on an older or VNet environment", "203.0.113.7, 10.250.0.221", "203.0.113.7"],
    ["a forged loopback left of the client", "127.0.0.1, 203.0.113.7", "203.0.113.7"],
    ["a forged public address left of the client", "198.51.100.9, 203.0.113.7, 100.100.0.52", "203.0.113.7"],
    ["a forged chain of platform addresses left of the client", "10.0.0.1, 127.0.0.1, 203.0.113.7", "203.0.113.7"],
  ])("recovers the client from X-Forwarded-For behind the platform's hops: %s", async (_, chain, client) => {
    for (const url of ["/", "/api/messages-not", "/readyz"]) {
      const body = JSON.parse((await request(withTelegram.port, "GET", url, { "x-forwarded-for": chain })).body);
      expect(body, `${url} with X-Forwarded-For: ${chain}`).toMatchObject({
        from: "gateway",
        forwardedFor: client,
        realIp: client,
      });
    }
    const teamsBody = JSON.parse(
      (await request(withTelegram.port, "POST", "/api/messages", { "x-forwarded-for": chain })).body,
    );
    expect(teamsBody).toMatchObject({ from: "teams", forwardedFor: client, realIp: client });
  });

  it("believes no X-Forwarded-For from a peer that is not one of the platform's hops", async () => {
    // The machine's own non-loopback address stands in for an internet client that reached nginx
    // directly (not through Envoy): its header is ignored and its own address is the client.
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find(
        (entry) =>
          entry &&
          entry.family === "IPv4" &&
          !entry.internal &&
          !PLATFORM_HOPS.some((range) => range.includes(".") && inRange(entry.address, range)),
      )?.address;
    expect(address, "this test needs a non-loopback IPv4 address outside private ranges").toBeDefined();
    const body = JSON.parse(
      (await request(withTelegram.port, "GET", "/", { "x-forwarded-for": "127.0.0.1" }, address)).body,
    );
    expect(body).toMatchObject({ from: "gateway", forwardedFor: address, realIp: address });
  });

  it("passes WebSocket upgrades through to the gateway", async () => {
    const first = await new Promise<string>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${withTelegram.port}/`);
      socket.once("message", (data) => {
        resolve(data.toString());
        socket.close();
      });
      socket.once("error", reject);
    });
    expect(JSON.parse(first)).toMatchObject({ event: "connect.challenge", from: "gateway" });
    expect(gateway.hits.some((hit) => hit.upgrade)).toBe(true);
  });

  it("routes the Telegram webhook only when Telegram runs in webhook mode", async () => {
    expect(JSON.parse((await request(withTelegram.port, "POST", "/telegram-webhook")).body)).toMatchObject({
      from: "telegram",
    });
    expect(JSON.parse((await request(teamsOnly.port, "POST", "/telegram-webhook")).body)).toMatchObject({
      from: "gateway",
    });
  });

  it("without Teams, /api/messages is just another gateway path", async () => {
    const port = await freePort();
    const noTeams = await startNginx(renderNginxConfig({ listenPort: port, gatewayPort: gateway.port }), port);
    try {
      expect(JSON.parse((await request(port, "POST", "/api/messages")).body)).toMatchObject({ from: "gateway" });
    } finally {
      noTeams.child.kill("SIGTERM");
    }
  });
});
