import { describe, expect, it } from "vitest";
import { diffDesired } from "../../activities/diff";

describe("diffDesired", () => {
  it("ignores properties Azure adds and reports none when the desired subset matches", () => {
    const current = {
      id: "/x",
      provisioningState: "Succeeded",
      properties: { a: 1, b: { c: "d", e: true } },
      tags: { keep: "me", owner: "shire" },
    };
    expect(diffDesired(current, { properties: { b: { c: "d" } }, tags: { owner: "shire" } })).toEqual([]);
  });

  it("names every differing path", () => {
    const current = { properties: { a: 1, b: { c: "d" } }, tags: {} };
    expect(diffDesired(current, { properties: { a: 2, b: { c: "x" } }, tags: { owner: "shire" } })).toEqual([
      "properties.a",
      "properties.b.c",
      "tags.owner",
    ]);
  });

  it("compares arrays element by element and by length", () => {
    expect(diffDesired({ list: [{ n: 1, extra: true }, { n: 2 }] }, { list: [{ n: 1 }, { n: 2 }] })).toEqual([]);
    expect(diffDesired({ list: [{ n: 1 }] }, { list: [{ n: 1 }, { n: 2 }] })).toEqual(["list"]);
    expect(diffDesired({ list: [{ n: 1 }, { n: 3 }] }, { list: [{ n: 1 }, { n: 2 }] })).toEqual(["list[1].n"]);
  });

  it("treats resource ids case-insensitively and locations by normalized name only", () => {
    const id = "/subscriptions/abc/resourceGroups/claw-demo/providers/Microsoft.KeyVault/vaults/kv";
    expect(diffDesired({ scope: id.toLowerCase() }, { scope: id })).toEqual([]);
    expect(diffDesired({ location: "West Europe" }, { location: "westeurope" })).toEqual([]);
    // Other strings stay case-sensitive (enum-like identifiers aside: see below).
    expect(diffDesired({ image: "x/Y:1" }, { image: "x/y:1" })).toEqual(["image"]);
  });

  it("reports a missing object or a type mismatch at its path", () => {
    expect(diffDesired({}, { properties: { a: 1 } })).toEqual(["properties"]);
    expect(diffDesired({ a: "1" }, { a: 1 })).toEqual(["a"]);
    expect(diffDesired(undefined, { a: 1 })).toEqual(["."]);
  });

  it("matches property names case-insensitively, as ARM echoes some with other casing", () => {
    expect(
      diffDesired(
        { ConnectionString: "x", WorkspaceResourceId: "/subscriptions/s/a" },
        { workspaceResourceId: "/subscriptions/S/A" },
      ),
    ).toEqual([]);
  });

  it("treats an empty list or map as matching one ARM left out, but not one with entries", () => {
    expect(diffDesired({ configuration: {} }, { configuration: { registries: [], secrets: [] } })).toEqual([]);
    expect(diffDesired({ configuration: { registries: null } }, { configuration: { registries: [] } })).toEqual([]);
    expect(diffDesired({ tags: undefined }, { tags: {} })).toEqual([]);
    expect(diffDesired({ configuration: {} }, { configuration: { registries: [{ server: "x" }] } })).toEqual([
      "configuration.registries",
    ]);
    expect(
      diffDesired({ configuration: { registries: [{ server: "x" }] } }, { configuration: { registries: [] } }),
    ).toEqual(["configuration.registries"]);
  });

  it("takes ARM's casing of identifier-like values (enums) as equal, and nothing else", () => {
    expect(diffDesired({ ingress: { transport: "Auto" } }, { ingress: { transport: "auto" } })).toEqual([]);
    expect(diffDesired({ sku: { name: "standard" } }, { sku: { name: "Standard" } })).toEqual([]);
    // Paths, URLs, images and free text compare exactly.
    expect(diffDesired({ path: "/API/messages" }, { path: "/api/messages" })).toEqual(["path"]);
    expect(
      diffDesired({ image: "ghcr.io/OpenClaw/openclaw:2026.9.6" }, { image: "ghcr.io/openclaw/openclaw:2026.9.6" }),
    ).toEqual(["image"]);
    expect(diffDesired({ description: "Users of Demo" }, { description: "Users of demo" })).toEqual(["description"]);
  });
});
