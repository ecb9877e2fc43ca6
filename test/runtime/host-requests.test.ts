/** Routes with a catch-all are chosen as the Functions host chooses them. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHostProcess } from "../e2e/harness";
import { compileRoute, RouteTable } from "../../src/runtime/routes";

const APP = path.resolve(__dirname, "../fixtures/catchall-app");
let host: Awaited<ReturnType<typeof startHostProcess>>;

beforeAll(async () => {
  host = await startHostProcess(fs.mkdtempSync(path.join(os.tmpdir(), "shire-requests-")), {}, { appRoot: APP });
});
afterAll(async () => host?.stop());

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
