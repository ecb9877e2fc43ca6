/**
 * Blob data plane, the part static websites need: service properties (StaticWebsite), the `$web`
 * container, block blob upload and read. Callers authenticate with a bearer token and need a
 * Storage Blob Data role on the account (Contributor or Owner), as with Entra auth on Azure.
 */
import { createHash } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { ArmService } from "../arm";
import { roleGrants } from "../arm/providers/authorization";
import { decodeCaller } from "../auth";

interface Blob {
  content: Buffer;
  contentType: string;
  contentMd5: string;
  lastModified: number;
  etag: string;
}

interface AccountData {
  staticWebsite: { enabled: boolean; indexDocument?: string; errorDocument404Path?: string };
  containers: Map<string, Map<string, Blob>>;
}

const API_VERSION_HEADER = "2025-11-05";

export function createBlobService(env: SandboxEnvironment, arm: ArmService): SandboxServiceModule {
  const accounts = new Map<string, AccountData>();

  function authorize(request: SandboxRequest, write: boolean): AccountData {
    const accountName = request.host.split(".")[0];
    const account = arm.store.findStorageAccount(accountName);
    if (!account) throw new SandboxHttpError(404, "ResourceNotFound", `The storage account '${accountName}' does not exist.`);
    const caller = decodeCaller(request);
    if (!caller) throw new SandboxHttpError(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.", { "www-authenticate": 'Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize resource_id=https://storage.azure.com' });
    const action = `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${write ? "write" : "read"}`;
    const allowed = arm.store.roleAssignmentsFor(caller.oid, account.resource.id).some((assignment) => roleGrants(assignment.roleDefinitionId, action));
    if (!allowed) throw new SandboxHttpError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.");
    let data = accounts.get(accountName);
    if (!data) accounts.set(accountName, (data = { staticWebsite: { enabled: false }, containers: new Map() }));
    return data;
  }

  const headers = (extra: Record<string, string> = {}) => ({ "x-ms-version": API_VERSION_HEADER, date: new Date(env.clock.now()).toUTCString(), ...extra });

  const serviceProperties = (request: SandboxRequest): SandboxResponse => {
    if (request.query.get("restype") !== "service" || request.query.get("comp") !== "properties") throw new SandboxHttpError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.");
    if (request.method === "GET") {
      const data = authorize(request, false);
      const site = data.staticWebsite;
      const xml = `<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties><StaticWebsite><Enabled>${site.enabled}</Enabled>${site.indexDocument ? `<IndexDocument>${site.indexDocument}</IndexDocument>` : ""}${site.errorDocument404Path ? `<ErrorDocument404Path>${site.errorDocument404Path}</ErrorDocument404Path>` : ""}</StaticWebsite></StorageServiceProperties>`;
      return { status: 200, headers: headers({ "content-type": "application/xml" }), body: xml };
    }
    const data = authorize(request, true);
    const xml = request.rawBody.toString("utf8");
    const site = /<StaticWebsite>([\s\S]*?)<\/StaticWebsite>/.exec(xml)?.[1];
    if (site !== undefined) {
      const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(site)?.[1];
      const enabled = field("Enabled");
      if (enabled !== "true" && enabled !== "false") throw new SandboxHttpError(400, "InvalidXmlDocument", "StaticWebsite/Enabled must be true or false.");
      data.staticWebsite = { enabled: enabled === "true", indexDocument: field("IndexDocument"), errorDocument404Path: field("ErrorDocument404Path") };
      if (data.staticWebsite.enabled && !data.containers.has("$web")) data.containers.set("$web", new Map());
    }
    return { status: 202, headers: headers() };
  };

  const container = (request: SandboxRequest): SandboxResponse => {
    if (request.query.get("restype") !== "container") throw new SandboxHttpError(400, "InvalidQueryParameterValue", "restype=container is required.");
    const data = authorize(request, request.method === "PUT");
    const name = request.params.container;
    if (request.method === "PUT") {
      if (!/^(\$web|\$root|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$/.test(name)) throw new SandboxHttpError(400, "InvalidResourceName", "The specified resource name contains invalid characters.");
      if (data.containers.has(name)) throw new SandboxHttpError(409, "ContainerAlreadyExists", "The specified container already exists.");
      data.containers.set(name, new Map());
      return { status: 201, headers: headers({ etag: `"0x${Date.now().toString(16)}"` }) };
    }
    if (!data.containers.has(name)) throw new SandboxHttpError(404, "ContainerNotFound", "The specified container does not exist.");
    return { status: 200, headers: headers() };
  };

  const blob = (request: SandboxRequest): SandboxResponse => {
    const write = request.method === "PUT";
    const data = authorize(request, write);
    const container = data.containers.get(request.params.container);
    if (!container) throw new SandboxHttpError(404, "ContainerNotFound", "The specified container does not exist.");
    const name = request.params.blob;
    if (write) {
      if (request.headers["x-ms-blob-type"] !== "BlockBlob") throw new SandboxHttpError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.");
      const content = request.rawBody;
      const md5 = createHash("md5").update(content).digest("base64");
      const claimed = request.headers["content-md5"];
      if (typeof claimed === "string" && claimed !== md5) throw new SandboxHttpError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.");
      const stored: Blob = {
        content,
        contentType: String(request.headers["x-ms-blob-content-type"] ?? "application/octet-stream"),
        contentMd5: String(request.headers["x-ms-blob-content-md5"] ?? md5),
        lastModified: env.clock.now(),
        etag: `"0x${createHash("sha1").update(content).digest("hex").slice(0, 16).toUpperCase()}"`,
      };
      container.set(name, stored);
      return { status: 201, headers: headers({ etag: stored.etag, "content-md5": md5, "x-ms-request-server-encrypted": "true" }) };
    }
    const stored = container.get(name);
    if (!stored) throw new SandboxHttpError(404, "BlobNotFound", "The specified blob does not exist.");
    const blobHeaders = headers({ etag: stored.etag, "content-type": stored.contentType, "content-md5": stored.contentMd5, "content-length": String(stored.content.length), "last-modified": new Date(stored.lastModified).toUTCString(), "x-ms-blob-type": "BlockBlob" });
    return { status: 200, headers: blobHeaders, body: request.method === "HEAD" ? undefined : stored.content };
  };

  const routes: SandboxRoute[] = [
    { service: "blob", method: "GET", pattern: "/", handler: serviceProperties },
    { service: "blob", method: "PUT", pattern: "/", handler: serviceProperties },
    { service: "blob", method: "PUT", pattern: "/:container", handler: container },
    { service: "blob", method: "GET", pattern: "/:container", handler: container },
    { service: "blob", method: "PUT", pattern: "/:container/*blob", handler: blob },
    { service: "blob", method: "GET", pattern: "/:container/*blob", handler: blob },
    { service: "blob", method: "HEAD", pattern: "/:container/*blob", handler: blob },
  ];

  return {
    name: "blob",
    routes,
    inspect: () =>
      Object.fromEntries(
        [...accounts.entries()].map(([name, data]) => [name, { staticWebsite: data.staticWebsite, containers: Object.fromEntries([...data.containers.entries()].map(([container, blobs]) => [container, [...blobs.keys()]])) }]),
      ),
  };
}
