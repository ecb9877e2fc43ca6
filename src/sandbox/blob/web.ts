/**
 * The static website endpoint (`primaryEndpoints.web`, `<account>.web.sandbox.localhost` here;
 * `<account>.z<n>.web.core.windows.net` in Azure): anonymous GET/HEAD of `$web`, with the index
 * document for directories and the 404 document (or Azure's own 404 page) for what is missing.
 */
import type { SandboxEnvironment } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { BlobService } from "./index";
import { readBlob } from "./read";

export function createWebService(env: SandboxEnvironment, blobs: BlobService): { routes: SandboxRoute[] } {
  const headers = () => ({ date: new Date(env.clock.now()).toUTCString() });

  const serve = (request: SandboxRequest): SandboxResponse => {
    const accountName = request.host.split(".")[0];
    const data = blobs.accountData(accountName);
    if (!data) throw new SandboxHttpError(404, "AccountNotFound", "The requested content does not exist.");
    const site = blobs.staticWebsite(data);
    if (!site.enabled) throw new SandboxHttpError(404, "WebsiteDisabled", "The requested content does not exist.");
    const web = data.containers.get("$web")?.blobs ?? new Map();
    const path = decodeURIComponent(request.path).replace(/^\/+/, "");
    const candidates =
      path === "" || path.endsWith("/")
        ? [`${path}${site.indexDocument ?? ""}`]
        : [path, ...(site.indexDocument ? [`${path}/${site.indexDocument}`] : [])];
    if (site.defaultIndexDocumentPath && (path === "" || path.endsWith("/")))
      candidates.unshift(site.defaultIndexDocumentPath.replace(/^\/+/, ""));
    for (const name of candidates) {
      const found = web.get(name);
      if (found) return readBlob(request, found, headers());
    }
    const notFoundPage = site.errorDocument404Path ? web.get(site.errorDocument404Path.replace(/^\/+/, "")) : undefined;
    if (notFoundPage) return readBlob(request, notFoundPage, headers(), 404);
    throw new SandboxHttpError(404, "WebContentNotFound", "The requested content does not exist.");
  };

  const refuse = (): SandboxResponse => {
    throw new SandboxHttpError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
  };

  return {
    routes: [
      { service: "web", method: "GET", pattern: "/*path", handler: serve },
      { service: "web", method: "HEAD", pattern: "/*path", handler: serve },
      ...(["PUT", "POST", "PATCH", "DELETE"] as const).map((method) => ({
        service: "web" as const,
        method,
        pattern: "/*path",
        handler: refuse,
      })),
    ],
  };
}
