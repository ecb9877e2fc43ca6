/**
 * What a client can send the host: malformed Host headers, broken requests and clients that go
 * away get an answer (or a closed connection) and never stop the host process; routes with a
 * catch-all are chosen as the Functions host chooses them.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHostProcess } from "../e2e/harness";
import { compileRoute, RouteTable } from "../../src/runtime/routes";

const APP = path.resolve(__dirname, "../fixtures/catchall-app");
let host: Awaited<ReturnType<typeof startHostProcess>>;
let port: number;

beforeAll(async () => {
  host = await startHostProcess(fs.mkdtempSync(path.join(os.tmpdir(), "shire-requests-")), {}, { appRoot: APP });
  port = Number(new URL(host.url).port);
});
afterAll(async () => host?.stop());

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends bytes as they are and reads until the host closes the connection (or `destroyAfterMs`). */
function raw(request: string | Buffer, destroyAfterMs?: number): Promise<RawResponse | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(request);
      if (destroyAfterMs !== undefined) setTimeout(() => socket.destroy(), destroyAfterMs);
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (!text) return resolve(undefined);
      const [head, ...rest] = text.split("\r\n\r\n");
      const [statusLine, ...headerLines] = head.split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => [
          line.slice(0, line.indexOf(":")).toLowerCase(),
          line.slice(line.indexOf(":") + 1).trim(),
        ]),
      );
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") });
    });
    setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(String(request).slice(0, 60))}`)), 10_000).unref();
  });
}

async function expectStillServing(): Promise<void> {
  expect(host.child.exitCode, host.logs.join("")).toBeNull();
  const response = await fetch(`${host.url}/api/slugs`);
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ handler: "listSlugs" });
}

describe("requests the host must survive", () => {
  it.each([
    ["a space", "a b"],
    ["two colons", "a:b:c"],
    ["nothing", ""],
    ["a very long name", "x".repeat(1000)],
    ["non-ASCII", "hôte.example"],
    ["an unclosed IPv6 literal", "[::1"],
    ["a slash", "a/b"],
    ["user info", "user@host"],
    ["a port out of range", "localhost:99999"],
  ])("answers a Host header with %s with a 400 in the error shape, and keeps serving", async (_, value) => {
    const response = await raw(Buffer.from(`GET /api/slugs HTTP/1.1\r\nHost: ${value}\r\nConnection: close\r\n\r\n`));
    expect(response?.status).toBe(400);
    expect(response?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(response!.body)).toEqual({ error: { code: "BadRequest", message: expect.any(String) } });
    await expectStillServing();
  });

  it("answers a missing or repeated Host (HTTP/1.1) with a 400 and serves HTTP/1.0 without one", async () => {
    const missing = await raw("GET /api/slugs HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect(missing?.status).toBe(400);
    expect(JSON.parse(missing!.body).error.code).toBe("BadRequest");
    const twice = await raw("GET /api/slugs HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
    expect(twice?.status).toBe(400);
    const old = await raw("GET /api/slugs HTTP/1.0\r\n\r\n");
    expect(old?.status).toBe(200);
    expect(JSON.parse(old!.body)).toEqual({ handler: "listSlugs" });
    await expectStillServing();
  });

  it("keeps a path that starts with // a path (not an authority) and uses the Host header", async () => {
    const response = await raw(
      "GET //evil.example/api/slugs HTTP/1.1\r\nHost: shire.test\r\nConnection: close\r\n\r\n",
    );
    // Not re-targeted at evil.example with the path /api/slugs: no route takes this path.
    expect(response?.status).toBe(404);
    expect(JSON.parse(response!.body).error.message).toBe("No route for GET //evil.example/api/slugs.");
  });

  it("survives a client that leaves mid-body or before its answer", async () => {
    const partial = "POST /api/slugs/a/install HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc";
    expect(await raw(partial, 100)).toBeUndefined();
    expect(await raw("GET /api/slow HTTP/1.1\r\nHost: h\r\n\r\n", 50)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 500)); // the slow function answers a closed socket
    await expectStillServing();
    expect(host.logs.join("")).toMatch(/Request POST \/api\/slugs\/a\/install dropped: /);
  });

  it("answers requests the parser refuses in the error shape, and a response Node cannot write with a 500", async () => {
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    expect(garbage?.status).toBe(400);
    expect(JSON.parse(garbage!.body).error.code).toBe("BadRequest");
    const huge = await raw(`GET /api/slugs HTTP/1.1\r\nHost: h\r\nX-Big: ${"y".repeat(20_000)}\r\n\r\n`);
    expect(huge?.status).toBe(431);
    const badChunk = await raw(
      "POST /api/slugs/a/install HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    expect(badChunk === undefined || badChunk.status === 400).toBe(true);
    const badCookie = await fetch(`${host.url}/api/bad-cookie`);
    expect(badCookie.status).toBe(500);
    expect(((await badCookie.json()) as { error: { code: string } }).error.code).toBe("InternalServerError");
    await expectStillServing();
  });
});

describe("a catch-all route", () => {
  async function call(method: string, route: string): Promise<[number, unknown]> {
    const response = await fetch(`${host.url}${route}`, { method });
    return [response.status, method === "HEAD" ? null : await response.json()];
  }

  it("is tried only when no more specific route takes the path and the method, wherever it was registered", async () => {
    expect(await call("GET", "/api/slugs")).toEqual([200, { handler: "listSlugs" }]);
    expect(await call("GET", "/api/slugs/new")).toEqual([200, { handler: "newSlug" }]);
    expect(await call("GET", "/api/slugs/ada")).toEqual([200, { handler: "getSlug", slug: "ada" }]);
    expect(await call("DELETE", "/api/slugs/ada")).toEqual([200, { handler: "getSlug", slug: "ada" }]);
    expect(await call("POST", "/api/slugs/ada/install")).toEqual([
      202,
      { handler: "installSlug", slug: "ada", body: "" },
    ]);
    // The path matches a route, the method does not: the catch-all is tried, not a host 404/405.
    expect(await call("POST", "/api/slugs")).toEqual([404, { handler: "catchAll", method: "POST", path: "slugs" }]);
    expect(await call("PUT", "/api/slugs/ada")).toEqual([
      404,
      { handler: "catchAll", method: "PUT", path: "slugs/ada" },
    ]);
    expect(await call("GET", "/api/slugs/ada/install")).toEqual([
      404,
      { handler: "catchAll", method: "GET", path: "slugs/ada/install" },
    ]);
    expect(await call("PATCH", "/api/no/such/route")).toEqual([
      404,
      { handler: "catchAll", method: "PATCH", path: "no/such/route" },
    ]);
    expect(await call("GET", "/api")).toEqual([404, { handler: "catchAll", method: "GET", path: null }]);
  });

  it("leaves paths outside the route prefix to the host's own JSON 404", async () => {
    const response = await fetch(`${host.url}/elsewhere`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: "NotFound", message: "No route for GET /elsewhere." } });
  });
});

describe("RouteTable", () => {
  const routes = [
    { name: "catchAll", route: compileRoute("api/{*path}"), methods: ["GET", "POST", "DELETE"] },
    { name: "slug", route: compileRoute("api/slugs/{slug}"), methods: ["GET"] },
    { name: "new", route: compileRoute("api/slugs/new"), methods: ["GET"] },
    { name: "typed", route: compileRoute("api/slugs/{id:int}"), methods: ["GET"] },
    { name: "install", route: compileRoute("api/slugs/{slug}/install"), methods: ["POST"] },
  ];
  const permutations = <T>(items: T[]): T[][] =>
    items.length <= 1
      ? [items]
      : items.flatMap((item, i) =>
          permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
        );

  it("selects the same route for every registration order: literal, then constrained, then parameter, then catch-all", () => {
    const cases: [string, string, string][] = [
      ["GET", "/api/slugs/new", "new"],
      ["GET", "/api/slugs/7", "typed"],
      ["GET", "/api/slugs/ada", "slug"],
      ["POST", "/api/slugs/ada", "catchAll"],
      ["POST", "/api/slugs/ada/install", "install"],
      ["GET", "/api/slugs/ada/install", "catchAll"],
      ["DELETE", "/api/anything/else", "catchAll"],
    ];
    for (const order of permutations(routes)) {
      const table = new RouteTable<(typeof routes)[number]>();
      for (const entry of order) table.add(entry);
      for (const [method, url, expected] of cases) {
        const selected = table.select(url, method);
        expect(selected.kind === "match" ? selected.entry.name : selected.kind, `${method} ${url}`).toBe(expected);
      }
    }
  });

  it("tells a path no route takes from a path routes take with other methods", () => {
    const table = new RouteTable<(typeof routes)[number]>();
    for (const entry of routes.slice(1)) table.add(entry);
    expect(table.select("/api/nothing", "GET")).toEqual({ kind: "none" });
    expect(table.select("/api/slugs/ada", "PUT")).toEqual({ kind: "method", allowed: ["GET"] });
    expect(table.select("/api/slugs/new", "PUT")).toEqual({ kind: "method", allowed: ["GET"] });
  });
});
