/**
 * Blob data plane, the part static websites need: service properties (StaticWebsite), containers
 * (`$web`), block blobs (upload, read with ranges, HTTP headers, metadata, delete, list), and the
 * static website endpoint serving `$web` anonymously (web.ts).
 *
 * Authentication is a bearer token (Entra) or Shared Key (auth.ts). With a token each operation
 * is authorized by RBAC as the Storage docs map it: service properties and containers are
 * Actions (Contributor has them; a Storage Blob Data role has the container ones), blob contents
 * are DataActions (only the Storage Blob Data roles). Assignments count once propagated.
 */
import { createHash } from "node:crypto";
import type { SandboxEnvironment, SandboxServiceModule } from "../service";
import { SandboxHttpError, type SandboxRequest, type SandboxResponse, type SandboxRoute } from "../types";
import type { ArmService } from "../arm";
import { storageKeys } from "../arm/providers/storage";
import { rbacAllows } from "../auth";
import { authenticateBlob } from "./auth";
import {
  DEFAULT_SERVICE_PROPERTIES,
  parseServiceProperties,
  parseStaticWebsite,
  renderServiceProperties,
  type StaticWebsite,
} from "./properties";
import { createWebService } from "./web";
import { readBlob, type StoredBlob } from "./read";

export type { StoredBlob } from "./read";

export interface AccountData {
  /** Service properties by top-level XML element. */
  properties: Record<string, string>;
  containers: Map<string, { created: number; etag: string; blobs: Map<string, StoredBlob> }>;
}

export interface BlobService extends SandboxServiceModule {
  /** The account's data, if it exists in ARM (the web endpoint serves from it). */
  accountData(accountName: string): AccountData | undefined;
  staticWebsite(data: AccountData): StaticWebsite;
}

/** The newest x-ms-version the sandbox speaks (what @azure/storage-blob 12.32 sends); Bearer auth needs 2017-11-09 or later. */
const API_VERSION_HEADER = "2026-04-06";
const OLDEST_BEARER_VERSION = "2017-11-09";
const CONTAINER_NAME = /^(\$web|\$root|\$logs|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$/;

type Operation = { name: string; kind: "action" | "dataAction" };
const op = (suffix: string, kind: "action" | "dataAction"): Operation => ({
  name: `Microsoft.Storage/storageAccounts/blobServices/${suffix}`,
  kind,
});

export function createBlobService(env: SandboxEnvironment, arm: ArmService): BlobService {
  const accounts = new Map<string, AccountData>();
  /** Accounts whose data a request may have changed since persistence last looked (writes only). */
  const touched = new Set<string>();
  // A deleted account's blobs and service properties go with it (a new account of the name starts empty).
  arm.store.onDelete.push((deleted) => {
    if (deleted.resource.type.toLowerCase() !== "microsoft.storage/storageaccounts") return;
    const name = deleted.resource.name.toLowerCase();
    if (accounts.delete(name)) touched.add(name);
  });

  function accountData(accountName: string): AccountData | undefined {
    const stored = arm.store.findStorageAccount(accountName);
    if (!stored) {
      if (accounts.delete(accountName)) touched.add(accountName);
      return undefined;
    }
    let data = accounts.get(accountName);
    if (!data) {
      accounts.set(accountName, (data = { properties: { ...DEFAULT_SERVICE_PROPERTIES }, containers: new Map() }));
      touched.add(accountName);
    }
    return data;
  }

  /** An account's data as one record (containers and blobs as plain objects; blob content stays a Buffer). */
  const recordOf = (data: AccountData) => ({
    properties: data.properties,
    containers: Object.fromEntries(
      [...data.containers].map(([name, container]) => [
        name,
        { created: container.created, etag: container.etag, blobs: Object.fromEntries(container.blobs) },
      ]),
    ),
  });
  const dataOf = (record: ReturnType<typeof recordOf>): AccountData => ({
    properties: record.properties,
    containers: new Map(
      Object.entries(record.containers).map(([name, container]) => [
        name,
        {
          created: container.created,
          etag: container.etag,
          blobs: new Map(Object.entries(container.blobs)),
        },
      ]),
    ),
  });

  const staticWebsite = (data: AccountData) =>
    parseStaticWebsite(data.properties.StaticWebsite ?? DEFAULT_SERVICE_PROPERTIES.StaticWebsite);

  function authorize(request: SandboxRequest, operation: Operation): AccountData {
    const accountName = request.host.split(".")[0];
    const stored = arm.store.findStorageAccount(accountName);
    if (!stored)
      throw new SandboxHttpError(
        404,
        "ResourceNotFound",
        `The storage account '${accountName}' does not exist (in Azure its DNS name would not resolve).`,
      );
    const properties = stored.resource.properties as {
      allowSharedKeyAccess?: boolean;
      allowBlobPublicAccess?: boolean;
    };
    // Anonymous requests: only blob reads can be anonymous, and only with public access allowed
    // (the sandbox has no public containers, so those find nothing).
    if (
      !request.headers.authorization &&
      operation.kind === "dataAction" &&
      (request.method === "GET" || request.method === "HEAD")
    ) {
      if (properties.allowBlobPublicAccess !== true)
        throw new SandboxHttpError(
          409,
          "PublicAccessNotPermitted",
          "Public access is not permitted on this storage account.",
        );
      throw new SandboxHttpError(404, "ResourceNotFound", "The specified resource does not exist.");
    }
    // x-ms-version is required on every authorized request.
    const version = String(request.headers["x-ms-version"] ?? "");
    if (!version && request.headers.authorization)
      throw new SandboxHttpError(
        400,
        "MissingRequiredHeader",
        "An HTTP header that's mandatory for this request is not specified.\nHeaderName:x-ms-version",
      );
    if (version && (!/^\d{4}-\d{2}-\d{2}$/.test(version) || version > API_VERSION_HEADER))
      throw new SandboxHttpError(
        400,
        "InvalidHeaderValue",
        `The value for one of the HTTP headers is not in the correct format.\nHeaderName:x-ms-version\nHeaderValue:${version}`,
      );
    const who = authenticateBlob(request, env, {
      name: accountName,
      keys: storageKeys(stored),
      allowSharedKeyAccess: properties.allowSharedKeyAccess !== false,
    });
    if (who.kind === "entra") {
      if (version < OLDEST_BEARER_VERSION)
        throw new SandboxHttpError(
          400,
          "InvalidHeaderValue",
          `Authentication scheme Bearer is not supported in this version.\nHeaderName:x-ms-version\nHeaderValue:${version}`,
        );
      request.caller = who.caller;
      if (!rbacAllows(env, arm.store, who.caller.oid, stored.resource.id, operation.name, operation.kind)) {
        throw new SandboxHttpError(
          403,
          "AuthorizationPermissionMismatch",
          "This request is not authorized to perform this operation using this permission.",
        );
      }
    }
    if (request.method !== "GET" && request.method !== "HEAD") touched.add(accountName);
    return accountData(accountName)!;
  }

  const headers = (extra: Record<string, string> = {}) => ({
    "x-ms-version": API_VERSION_HEADER,
    date: new Date(env.clock.now()).toUTCString(),
    ...extra,
  });
  const etagNow = () =>
    `"0x${env.clock.now().toString(16).toUpperCase()}${Math.floor(Math.random() * 0xfff)
      .toString(16)
      .toUpperCase()}"`;
  const xmlResponse = (xml: string): SandboxResponse => ({
    status: 200,
    headers: headers({ "content-type": "application/xml" }),
    body: xml,
  });
  const escape = (value: string) => value.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

  // ---- the service: GET/PUT /?restype=service&comp=properties, GET /?comp=list
  const service = (request: SandboxRequest): SandboxResponse => {
    const restype = request.query.get("restype");
    const comp = request.query.get("comp");
    if (request.method === "GET" && comp === "list" && !restype) {
      const data = authorize(request, op("containers/read", "action"));
      const items = [...data.containers.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(
          ([name, container]) =>
            `<Container><Name>${escape(name)}</Name><Properties><Last-Modified>${new Date(container.created).toUTCString()}</Last-Modified><Etag>${container.etag}</Etag></Properties></Container>`,
        );
      return xmlResponse(
        `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${request.baseUrl}/"><Containers>${items.join("")}</Containers><NextMarker /></EnumerationResults>`,
      );
    }
    if (restype !== "service" || comp !== "properties")
      throw new SandboxHttpError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
      );
    if (request.method === "GET")
      return xmlResponse(renderServiceProperties(authorize(request, op("read", "action")).properties));
    const data = authorize(request, op("write", "action"));
    const sections = parseServiceProperties(request.rawBody.toString("utf8"));
    Object.assign(data.properties, sections);
    // Enabling the static website creates its container.
    if (staticWebsite(data).enabled && !data.containers.has("$web"))
      data.containers.set("$web", { created: env.clock.now(), etag: etagNow(), blobs: new Map() });
    return { status: 202, headers: headers() };
  };

  // ---- containers: PUT/GET/HEAD/DELETE /c?restype=container, GET /c?restype=container&comp=list
  const container = (request: SandboxRequest): SandboxResponse => {
    if (request.query.get("restype") !== "container")
      throw new SandboxHttpError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.\nQueryParameterName:restype",
      );
    const name = request.params.container;
    const comp = request.query.get("comp");
    if (comp === "list" && request.method === "GET") {
      const data = authorize(request, op("containers/blobs/read", "dataAction"));
      const found = data.containers.get(name);
      if (!found) throw containerNotFound();
      const prefix = request.query.get("prefix") ?? "";
      const items = [...found.blobs.entries()]
        .filter(([blobName]) => blobName.startsWith(prefix))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(
          ([blobName, blob]) =>
            `<Blob><Name>${escape(blobName)}</Name><Properties><Last-Modified>${new Date(blob.lastModified).toUTCString()}</Last-Modified><Etag>${blob.etag}</Etag><Content-Length>${blob.content.length}</Content-Length><Content-Type>${escape(blob.httpHeaders.contentType)}</Content-Type>${blob.httpHeaders.contentMd5 ? `<Content-MD5>${blob.httpHeaders.contentMd5}</Content-MD5>` : ""}<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties></Blob>`,
        );
      return xmlResponse(
        `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${request.baseUrl}/" ContainerName="${escape(name)}">${prefix ? `<Prefix>${escape(prefix)}</Prefix>` : ""}<Blobs>${items.join("")}</Blobs><NextMarker /></EnumerationResults>`,
      );
    }
    if (comp)
      throw new SandboxHttpError(
        400,
        "InvalidQueryParameterValue",
        `Value for one of the query parameters specified in the request URI is invalid.\nQueryParameterName:comp\nQueryParameterValue:${comp}`,
      );
    if (request.method === "PUT") {
      const data = authorize(request, op("containers/write", "action"));
      if (!CONTAINER_NAME.test(name))
        throw new SandboxHttpError(
          400,
          "InvalidResourceName",
          "The specified resource name contains invalid characters.",
        );
      if (data.containers.has(name))
        throw new SandboxHttpError(409, "ContainerAlreadyExists", "The specified container already exists.");
      const created = { created: env.clock.now(), etag: etagNow(), blobs: new Map<string, StoredBlob>() };
      data.containers.set(name, created);
      return {
        status: 201,
        headers: headers({ etag: created.etag, "last-modified": new Date(created.created).toUTCString() }),
      };
    }
    if (request.method === "DELETE") {
      const data = authorize(request, op("containers/delete", "action"));
      if (!data.containers.delete(name)) throw containerNotFound();
      return { status: 202, headers: headers() };
    }
    const data = authorize(request, op("containers/read", "action"));
    const found = data.containers.get(name);
    if (!found) throw containerNotFound();
    return {
      status: 200,
      headers: headers({
        etag: found.etag,
        "last-modified": new Date(found.created).toUTCString(),
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
        "x-ms-has-immutability-policy": "false",
        "x-ms-has-legal-hold": "false",
      }),
    };
  };

  const containerNotFound = () =>
    new SandboxHttpError(404, "ContainerNotFound", "The specified container does not exist.");
  const blobNotFound = () => new SandboxHttpError(404, "BlobNotFound", "The specified blob does not exist.");

  function blobHttpHeaders(request: SandboxRequest, md5?: string): StoredBlob["httpHeaders"] {
    const header = (name: string) =>
      typeof request.headers[name] === "string" ? (request.headers[name] as string) : undefined;
    return {
      contentType: header("x-ms-blob-content-type") ?? "application/octet-stream",
      contentMd5: header("x-ms-blob-content-md5") ?? md5,
      contentEncoding: header("x-ms-blob-content-encoding"),
      contentLanguage: header("x-ms-blob-content-language"),
      contentDisposition: header("x-ms-blob-content-disposition"),
      cacheControl: header("x-ms-blob-cache-control"),
    };
  }

  const metadataOf = (request: SandboxRequest) =>
    Object.fromEntries(
      Object.entries(request.headers)
        .filter(([name]) => name.startsWith("x-ms-meta-"))
        .map(([name, value]) => [name.slice("x-ms-meta-".length), String(value)]),
    );

  // ---- blobs: PUT (upload, comp=properties, comp=metadata), GET/HEAD (ranges), DELETE
  const blob = (request: SandboxRequest): SandboxResponse => {
    const comp = request.query.get("comp");
    const write = request.method === "PUT";
    const data = authorize(
      request,
      op(`containers/blobs/${request.method === "DELETE" ? "delete" : write ? "write" : "read"}`, "dataAction"),
    );
    const container = data.containers.get(request.params.container);
    if (!container) throw containerNotFound();
    const name = request.params.blob;
    const stored = container.blobs.get(name);
    if (request.method === "DELETE") {
      if (!stored) throw blobNotFound();
      container.blobs.delete(name);
      return { status: 202, headers: headers({ "x-ms-delete-type-permanent": "true" }) };
    }
    if (write && comp === "properties") {
      if (!stored) throw blobNotFound();
      // Set Blob Properties replaces all HTTP headers: those not sent are cleared.
      stored.httpHeaders = {
        ...blobHttpHeaders(request),
        contentType: (request.headers["x-ms-blob-content-type"] as string | undefined) ?? "application/octet-stream",
      };
      stored.lastModified = env.clock.now();
      stored.etag = etagNow();
      return {
        status: 200,
        headers: headers({ etag: stored.etag, "last-modified": new Date(stored.lastModified).toUTCString() }),
      };
    }
    if (write && comp === "metadata") {
      if (!stored) throw blobNotFound();
      stored.metadata = metadataOf(request);
      stored.lastModified = env.clock.now();
      stored.etag = etagNow();
      return {
        status: 200,
        headers: headers({
          etag: stored.etag,
          "last-modified": new Date(stored.lastModified).toUTCString(),
          "x-ms-request-server-encrypted": "true",
        }),
      };
    }
    if (comp)
      throw new SandboxHttpError(
        400,
        "InvalidQueryParameterValue",
        `Value for one of the query parameters specified in the request URI is invalid.\nQueryParameterName:comp\nQueryParameterValue:${comp}`,
      );
    if (write) {
      if (request.headers["x-ms-blob-type"] !== "BlockBlob")
        throw new SandboxHttpError(
          400,
          "MissingRequiredHeader",
          "An HTTP header that's mandatory for this request is not specified.\nHeaderName:x-ms-blob-type",
        );
      const content = request.rawBody;
      const md5 = createHash("md5").update(content).digest("base64");
      const claimed = request.headers["content-md5"];
      if (typeof claimed === "string" && claimed !== md5)
        throw new SandboxHttpError(
          400,
          "Md5Mismatch",
          "The MD5 value specified in the request did not match with the MD5 value calculated by the server.",
        );
      const created: StoredBlob = {
        content,
        httpHeaders: blobHttpHeaders(request, md5),
        metadata: metadataOf(request),
        lastModified: env.clock.now(),
        etag: etagNow(),
      };
      container.blobs.set(name, created);
      return {
        status: 201,
        headers: headers({
          etag: created.etag,
          "last-modified": new Date(created.lastModified).toUTCString(),
          "content-md5": md5,
          "x-ms-request-server-encrypted": "true",
        }),
      };
    }
    if (!stored) throw blobNotFound();
    return readBlob(request, stored, headers());
  };

  const routes: SandboxRoute[] = [
    { service: "blob", method: "GET", pattern: "/", handler: service },
    { service: "blob", method: "PUT", pattern: "/", handler: service },
    { service: "blob", method: "PUT", pattern: "/:container", handler: container },
    { service: "blob", method: "GET", pattern: "/:container", handler: container },
    { service: "blob", method: "HEAD", pattern: "/:container", handler: container },
    { service: "blob", method: "DELETE", pattern: "/:container", handler: container },
    { service: "blob", method: "PUT", pattern: "/:container/*blob", handler: blob },
    { service: "blob", method: "GET", pattern: "/:container/*blob", handler: blob },
    { service: "blob", method: "HEAD", pattern: "/:container/*blob", handler: blob },
    { service: "blob", method: "DELETE", pattern: "/:container/*blob", handler: blob },
  ];

  const blobService: BlobService = {
    name: "blob",
    routes,
    accountData,
    staticWebsite,
    // One record per account, compared only for the accounts a write went to.
    collections: [
      {
        name: "blob.accounts",
        entries: function* () {
          for (const [name, data] of accounts) yield [name, recordOf(data)];
        },
        takeTouched: () => {
          const keys = [...touched];
          touched.clear();
          return keys;
        },
        peek: (name) => {
          const data = accounts.get(name);
          return data && recordOf(data);
        },
        load: (records) => {
          accounts.clear();
          for (const [name, record] of records) accounts.set(name, dataOf(record as ReturnType<typeof recordOf>));
        },
      },
    ],
    inspect: () =>
      Object.fromEntries(
        [...accounts.entries()].map(([name, data]) => [
          name,
          {
            staticWebsite: staticWebsite(data),
            containers: Object.fromEntries(
              [...data.containers.entries()].map(([containerName, found]) => [containerName, [...found.blobs.keys()]]),
            ),
          },
        ]),
      ),
  };
  blobService.routes.push(...createWebService(env, blobService).routes);
  return blobService;
}
