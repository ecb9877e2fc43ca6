/** docs/resources.md lists the kinds the registry has: generated, and checked here so it cannot drift. */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { DOC_FILE, renderKinds, withKinds } from "../../tools/resources-doc";
import { RESOURCE_KIND_NAMES } from "../../activities/registry";

describe("docs/resources.md", () => {
  it("has the registry's kinds, as `npm run docs:resources` writes them", () => {
    const document = fs.readFileSync(DOC_FILE, "utf8");
    expect(document, "run npm run docs:resources").toBe(withKinds(document));
    expect(document).toContain(`Shire manages **${RESOURCE_KIND_NAMES.length} resource kinds**`);
    for (const kind of RESOURCE_KIND_NAMES) expect(renderKinds()).toContain(`| \`${kind}\` |`);
  });
});
