/**
 * The Teams tab configuration page, published to the slug storage account's static website
 * (`$web`). Static website settings live in the blob data plane (Set Blob Service Properties),
 * so this uses the blob client with the broker's identity (Storage Blob Data Contributor on the
 * account is a plan step before this one).
 */
import fs from "node:fs";
import { createHash } from "node:crypto";
import { findRepoFile } from "../src/paths";
import { activityDepsFromEnv, type ActivityDeps } from "./deps";
import { registerActivity, type ActivityHandler } from "./define";
import { getOrUndefined } from "./arm";
import { createBlobServiceClient } from "../src/azure/blob";

export const ENSURE_STATIC_WEBSITE = "ensureStaticWebsite";

export interface StaticWebsiteDesired {
  accountName: string;
  slug: string;
  /** `https://<app fqdn>` the tab opens. */
  appUrl: string;
  /** The account's static website endpoint (`primaryEndpoints.web`): where Teams loads the page, anonymously. */
  webEndpoint: string;
}

const PAGE_BLOB_NAME = "index.html";

/** The page template lives in infra/ so it can be reviewed as HTML; rendered per slug. */
export function renderTabConfigurationPage(appUrl: string, slug: string): string {
  const template = fs.readFileSync(findRepoFile("infra", "teams-tab", "config.html"), "utf8");
  const safe = (value: string) => value.replace(/[^a-zA-Z0-9:/._-]/g, "");
  return template.split("{{APP_URL}}").join(safe(appUrl)).split("{{SLUG}}").join(safe(slug));
}

export function createStaticWebsiteActivities(deps: ActivityDeps) {
  const ensureStaticWebsite: ActivityHandler<StaticWebsiteDesired> = async ({ nodeId, desired }) => {
    const service = createBlobServiceClient(deps.context, desired.accountName);
    const changed: string[] = [];
    const properties = await service.getProperties();
    if (!properties.staticWebsite?.enabled || properties.staticWebsite.indexDocument !== PAGE_BLOB_NAME) {
      deps.beforeWrite(["staticWebsite"], false);
      await service.setProperties({ staticWebsite: { enabled: true, indexDocument: PAGE_BLOB_NAME, errorDocument404Path: PAGE_BLOB_NAME } });
      changed.push("staticWebsite");
    }
    const page = renderTabConfigurationPage(desired.appUrl, desired.slug);
    const md5 = createHash("md5").update(page).digest();
    const blob = service.getContainerClient("$web").getBlockBlobClient(PAGE_BLOB_NAME);
    const current = await getOrUndefined(() => blob.getProperties());
    const same = current?.contentMD5 && Buffer.from(current.contentMD5).equals(md5);
    if (!same) {
      deps.beforeWrite([PAGE_BLOB_NAME], Boolean(current));
      await service.getContainerClient("$web").createIfNotExists();
      await blob.upload(page, Buffer.byteLength(page), { blobHTTPHeaders: { blobContentType: "text/html; charset=utf-8", blobContentMD5: md5 } });
      changed.push(PAGE_BLOB_NAME);
    }
    return {
      nodeId,
      action: changed.length === 0 ? ("unchanged" as const) : current ? ("updated" as const) : ("created" as const),
      changed,
      // The blob URL needs a token; Teams loads the configuration page anonymously from the website.
      outputs: { pageUrl: desired.webEndpoint },
    };
  };
  return { ensureStaticWebsite };
}

registerActivity(ENSURE_STATIC_WEBSITE, () => createStaticWebsiteActivities(activityDepsFromEnv()).ensureStaticWebsite);
