/** docs/api.md's table of slug states lists every state the lifecycle has, and no other. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SLUG_STATES } from "../../src/operations/lifecycle";

describe("docs/api.md, slug states", () => {
  it("has a row for every state of src/operations/lifecycle.ts and none besides", () => {
    const text = fs.readFileSync(path.resolve(__dirname, "../../docs/api.md"), "utf8");
    const table = text.slice(text.indexOf("| state | means | accepts |")).split("\n\n")[0];
    const rows = [...table.matchAll(/^\| `([a-z]+)` \|/gm)].map((match) => match[1]);
    expect(rows.sort()).toEqual([...SLUG_STATES].sort());
  });
});
