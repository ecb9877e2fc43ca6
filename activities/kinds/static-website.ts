/**
 * The Teams tab configuration page, published to the slug storage account's static website
 * (`$web`). Static website settings live in the blob data plane (Set Blob Service Properties),
 * so this uses the blob client with the broker's identity (Storage Blob Data Contributor on the
 * account is a plan step before this one).
 */
import fs from "node:fs";
import { createHash } from "node:crypto";
import { findRepoFile } from "../../src/paths";
import { getOrUndefined, removalResult } from "../arm";
import { defineKind } from "../define";
import { createBlobServiceClient } from "../../src/azure/blob";

/** The configuration page Teams shows when the tab is added (the website's index document). */
const CONFIG_PAGE = "index.html";
/** The tab's content: a launcher, because the app itself cannot be framed. */
const TAB_PAGE = "tab.html";
const WEB_CONTAINER = "$web";

/** The page templates live in infra/ so they can be reviewed as HTML; rendered per slug. */
export function renderTabPages(appUrl: string, slug: string, webEndpoint: string): Record<string, string> {
  const safe = (value: string) => value.replace(/[^a-zA-Z0-9:/._-]/g, "");
  const values: Record<string, string> = {
    APP_URL: safe(appUrl),
    SLUG: safe(slug),
    TAB_URL: safe(`${webEndpoint.replace(/\/?$/, "/")}${TAB_PAGE}`),
  };
  const render = (file: string) =>
    fs
      .readFileSync(findRepoFile("infra", "teams-tab", file), "utf8")
      .replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => values[key] ?? "");
  return { [CONFIG_PAGE]: render("config.html"), [TAB_PAGE]: render("tab.html") };
}

export const staticWebsiteKind = defineKind({
  kind: "staticWebsite",
  summary: "The Teams tab's configuration and launcher pages on the storage account's static website.",
  api: "Blob data plane (service properties, `$web`)",
  // Always on the slug's own storage account: gone with it.
  teardown: () => "cascade",
  activities: (deps) => ({
    ensure: async ({ nodeId, desired }) => {
      const service = createBlobServiceClient(deps.context, desired.accountName);
      const changed: string[] = [];
      const properties = await service.getProperties();
      const websiteWasOn = properties.staticWebsite?.enabled === true;
      if (!websiteWasOn || properties.staticWebsite?.indexDocument !== CONFIG_PAGE) {
        deps.beforeWrite(["staticWebsite"], websiteWasOn);
        await service.setProperties({
          staticWebsite: { enabled: true, indexDocument: CONFIG_PAGE, errorDocument404Path: CONFIG_PAGE },
        });
        changed.push("staticWebsite");
      }
      const container = service.getContainerClient(WEB_CONTAINER);
      let existed = websiteWasOn;
      for (const [name, page] of Object.entries(renderTabPages(desired.appUrl, desired.slug, desired.webEndpoint))) {
        const md5 = createHash("md5").update(page).digest();
        const blob = container.getBlockBlobClient(name);
        const current = await getOrUndefined(() => blob.getProperties());
        existed ||= Boolean(current);
        if (current?.contentMD5 && Buffer.from(current.contentMD5).equals(md5)) continue;
        deps.beforeWrite([name], Boolean(current));
        await container.createIfNotExists();
        await blob.upload(page, Buffer.byteLength(page), {
          blobHTTPHeaders: { blobContentType: "text/html; charset=utf-8", blobContentMD5: md5 },
        });
        changed.push(name);
      }
      return {
        nodeId,
        action: changed.length === 0 ? ("unchanged" as const) : existed ? ("updated" as const) : ("created" as const),
        changed: existed ? changed : [],
        // The blob URL needs a token; Teams loads the pages anonymously from the website endpoint.
        outputs: { pageUrl: desired.webEndpoint, tabUrl: `${desired.webEndpoint.replace(/\/?$/, "/")}${TAB_PAGE}` },
      };
    },
    // The website off and its pages gone; the account itself (and the state share in it) stays.
    remove: async ({ nodeId, desired }) => {
      const service = createBlobServiceClient(deps.context, desired.accountName);
      const properties = await getOrUndefined(() => service.getProperties());
      if (!properties) return removalResult(nodeId, undefined);
      const websiteOn = properties.staticWebsite?.enabled === true;
      const container = service.getContainerClient(WEB_CONTAINER);
      const pages = await getOrUndefined(() => container.getProperties());
      if (!websiteOn && !pages) return removalResult(nodeId, undefined);
      deps.beforeWrite(["."], true, true);
      if (websiteOn) await service.setProperties({ staticWebsite: { enabled: false } });
      if (pages) await container.deleteIfExists();
      return removalResult(nodeId, `${desired.accountName}/${WEB_CONTAINER}`);
    },
  }),
});
