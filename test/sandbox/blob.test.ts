/**
 * Blob storage through @azure/storage-blob: RBAC per operation as the Storage docs map it
 * (service properties and containers are Actions, blob content DataActions), propagation,
 * Shared Key, the operations `comp` selects, ranges, the service properties document, and the
 * static website endpoint serving `$web` anonymously.
 */
import https from "node:https";
import { beforeAll, describe, expect, it } from "vitest";
import { StorageSharedKeyCredential } from "@azure/storage-blob";
import { createBlobServiceClient } from "../../src/azure/blob";
import { SandboxCredential, SANDBOX_BROKER_OBJECT_ID } from "../../src/azure/credential";
import { ManualClock } from "../../src/sandbox/state";
import { failure, raw, roleId, ROLES, token } from "./helpers";
import { useSandbox } from "../fixtures/sandbox";

const clock = new ManualClock();

const azure = useSandbox({ clock });
beforeAll(async () => {
  await azure.clients.resources.resourceGroups.createOrUpdate("rg-blob", { location: "westeurope" });
});

let counter = 0;
async function account(name: string) {
  const created = await azure.clients.storage.storageAccounts.create("rg-blob", name, {
    location: "westeurope",
    sku: { name: "Standard_LRS" },
    kind: "StorageV2",
  });
  return created.id!;
}
const grant = (scope: string, role: string, principalId: string) =>
  azure.clients.authorization.roleAssignments.create(
    scope,
    `9c000000-0000-4000-8000-${String(++counter).padStart(12, "0")}`,
    { roleDefinitionId: roleId(azure.sandbox, role), principalId, principalType: "ServicePrincipal" },
  );
const blobAs = (principalId: string, accountName: string) =>
  createBlobServiceClient(
    { ...azure.sandbox.context(), credential: new SandboxCredential(azure.sandbox.env.tenantId, principalId) },
    accountName,
  );

describe("RBAC per operation", () => {
  it("Contributor manages service properties and containers but cannot touch blobs; Storage Blob Data Contributor the reverse for service properties", async () => {
    const scope = await account("strbac1");
    const operator = "00000000-0000-4000-8000-0000000000f1";
    const writer = "00000000-0000-4000-8000-0000000000f2";
    await grant(scope, ROLES.contributor, operator);
    await grant(scope, ROLES.blobDataContributor, writer);
    const asOperator = blobAs(operator, "strbac1");
    await asOperator.setProperties({ staticWebsite: { enabled: true, indexDocument: "index.html" } });
    expect((await asOperator.getProperties()).staticWebsite?.enabled).toBe(true);
    await asOperator.getContainerClient("assets").create();
    expect(
      await failure(asOperator.getContainerClient("assets").getBlockBlobClient("a.txt").upload("a", 1)),
    ).toMatchObject({ statusCode: 403, code: "AuthorizationPermissionMismatch" });

    const asWriter = blobAs(writer, "strbac1");
    expect(await failure(asWriter.getProperties())).toMatchObject({
      statusCode: 403,
      code: "AuthorizationPermissionMismatch",
    });
    await asWriter.getContainerClient("assets").getBlockBlobClient("a.txt").upload("a", 1);
    await asWriter.getContainerClient("more").create();
    expect(
      (await asWriter.getContainerClient("assets").getBlockBlobClient("a.txt").downloadToBuffer()).toString(),
    ).toBe("a");
  });

  it("counts an assignment only once it has propagated (fault rbacPropagationMs)", async () => {
    const scope = await account("strbac2");
    const writer = "00000000-0000-4000-8000-0000000000f3";
    azure.sandbox.setFaults({ rbacPropagationMs: 60_000 });
    try {
      await grant(scope, ROLES.blobDataContributor, writer);
      const container = blobAs(writer, "strbac2").getContainerClient("propagated");
      expect(await failure(container.create())).toMatchObject({ statusCode: 403 });
      clock.advance(60_000);
      await container.create();
    } finally {
      azure.sandbox.setFaults({ rbacPropagationMs: 0 });
    }
  });
});

describe("Shared Key", () => {
  it("accepts a request signed with either account key and refuses a wrong signature", async () => {
    await account("stshared1");
    const keys = await azure.clients.storage.storageAccounts.listKeys("rg-blob", "stshared1");
    const signed = createBlobServiceClient(
      azure.sandbox.context(),
      "stshared1",
      new StorageSharedKeyCredential("stshared1", keys.keys![1].value!),
    );
    await signed.getContainerClient("keyed").create();
    await signed
      .getContainerClient("keyed")
      .getBlockBlobClient("k.txt")
      .upload("signed", 6, { metadata: { origin: "shared-key" } });
    expect((await signed.getContainerClient("keyed").getBlockBlobClient("k.txt").getProperties()).metadata).toEqual({
      origin: "shared-key",
    });
    const wrong = createBlobServiceClient(
      azure.sandbox.context(),
      "stshared1",
      new StorageSharedKeyCredential("stshared1", Buffer.from("not the key").toString("base64")),
    );
    expect(await failure(wrong.getProperties())).toMatchObject({ statusCode: 403, code: "AuthenticationFailed" });
  });
});

describe("operations", () => {
  it("dispatches on comp: HTTP headers, metadata, list, delete; answers ranges with 206", async () => {
    const scope = await account("stops1");
    await grant(scope, ROLES.blobDataContributor, SANDBOX_BROKER_OBJECT_ID);
    const container = createBlobServiceClient(azure.sandbox.context(), "stops1").getContainerClient("docs");
    await container.create();
    const blob = container.getBlockBlobClient("readme.txt");
    await blob.upload("hello world", 11, {
      blobHTTPHeaders: { blobContentType: "text/plain", blobCacheControl: "no-cache" },
    });
    await blob.setHTTPHeaders({ blobContentType: "text/markdown" });
    await blob.setMetadata({ a: "b" });
    const properties = await blob.getProperties();
    expect(properties).toMatchObject({ contentType: "text/markdown", metadata: { a: "b" } });
    // Set Blob Properties replaces every HTTP header: the cache control not sent again is gone.
    expect(properties.cacheControl).toBeUndefined();
    expect((await blob.downloadToBuffer(0, 5)).toString()).toBe("hello");
    const ranged = await raw(azure.sandbox, "stops1.blob", "GET", "/docs/readme.txt", {
      headers: {
        authorization: `Bearer ${token(azure.sandbox, { aud: "https://storage.azure.com" })}`,
        "x-ms-version": "2025-11-05",
        "x-ms-range": "bytes=6-10",
      },
    });
    expect(ranged).toMatchObject({ status: 206, body: "world" });
    expect(ranged.headers["content-range"]).toBe("bytes 6-10/11");
    const names: string[] = [];
    for await (const item of container.listBlobsFlat()) names.push(item.name);
    expect(names).toEqual(["readme.txt"]);
    await blob.delete();
    expect(await failure(blob.getProperties())).toMatchObject({ statusCode: 404 });
  });

  it("requires x-ms-version, an XML properties document, and one of IndexDocument or DefaultIndexDocumentPath", async () => {
    await account("stprops1");
    const headers = {
      authorization: `Bearer ${token(azure.sandbox, { aud: "https://storage.azure.com" })}`,
      "content-type": "application/xml",
    };
    const path = "/?restype=service&comp=properties";
    expect(JSON.stringify(await raw(azure.sandbox, "stprops1.blob", "GET", path, { headers }))).toContain(
      "MissingRequiredHeader",
    );
    const versioned = { ...headers, "x-ms-version": "2025-11-05" };
    expect(
      (await raw(azure.sandbox, "stprops1.blob", "PUT", path, { headers: versioned, body: "this is not xml" })).headers[
        "x-ms-error-code"
      ],
    ).toBe("InvalidXmlDocument");
    const both =
      "<StorageServiceProperties><StaticWebsite><Enabled>true</Enabled><IndexDocument>index.html</IndexDocument><DefaultIndexDocumentPath>a/index.html</DefaultIndexDocumentPath></StaticWebsite></StorageServiceProperties>";
    expect((await raw(azure.sandbox, "stprops1.blob", "PUT", path, { headers: versioned, body: both })).status).toBe(
      400,
    );
    // Elements a Set leaves out keep their values.
    const service = createBlobServiceClient(azure.sandbox.context(), "stprops1");
    await service.setProperties({
      cors: [
        {
          allowedOrigins: "https://teams.microsoft.com",
          allowedMethods: "GET",
          allowedHeaders: "*",
          exposedHeaders: "*",
          maxAgeInSeconds: 60,
        },
      ],
    });
    await service.setProperties({ staticWebsite: { enabled: true, indexDocument: "index.html" } });
    const read = await service.getProperties();
    expect(read.cors?.[0]?.allowedOrigins).toBe("https://teams.microsoft.com");
    expect(read.staticWebsite?.enabled).toBe(true);
  });
});

describe("static website endpoint", () => {
  function get(url: string): Promise<{ status: number; body: string; contentType?: string }> {
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      // Anonymous, with the CA trusted and TLS verified against the host name.
      const request = https.request(
        {
          host: "127.0.0.1",
          servername: target.hostname,
          port: target.port,
          path: target.pathname,
          headers: { host: target.host },
          ca: azure.sandbox.caCertificatePem,
        },
        (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => (body += chunk.toString()));
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, body, contentType: response.headers["content-type"] }),
          );
        },
      );
      request.on("error", reject);
      request.end();
    });
  }

  it("serves $web at primaryEndpoints.web: the index document, the 404 document, nothing before the website is enabled", async () => {
    const scope = await account("stweb1");
    await grant(scope, ROLES.blobDataContributor, SANDBOX_BROKER_OBJECT_ID);
    const web = (await azure.clients.storage.storageAccounts.getProperties("rg-blob", "stweb1")).primaryEndpoints!.web!;
    expect(web).toMatch(/^https:\/\/stweb1\.web\.sandbox\.localhost:\d+\/$/);
    expect((await get(web)).status).toBe(404);
    const service = createBlobServiceClient(azure.sandbox.context(), "stweb1");
    await service.setProperties({
      staticWebsite: { enabled: true, indexDocument: "index.html", errorDocument404Path: "404.html" },
    });
    const site = service.getContainerClient("$web");
    await site
      .getBlockBlobClient("index.html")
      .upload("<h1>tab</h1>", 12, { blobHTTPHeaders: { blobContentType: "text/html" } });
    await site
      .getBlockBlobClient("404.html")
      .upload("<h1>nope</h1>", 13, { blobHTTPHeaders: { blobContentType: "text/html" } });
    await site
      .getBlockBlobClient("config/index.html")
      .upload("<h1>config</h1>", 15, { blobHTTPHeaders: { blobContentType: "text/html" } });
    expect(await get(web)).toMatchObject({ status: 200, body: "<h1>tab</h1>", contentType: "text/html" });
    expect(await get(`${web}config`)).toMatchObject({ status: 200, body: "<h1>config</h1>" });
    expect(await get(`${web}missing`)).toMatchObject({ status: 404, body: "<h1>nope</h1>" });
  });

  it("deletes an account's blobs and service properties with the account (its group deleted): a new account of the name starts empty", async () => {
    const make = async () => {
      await azure.clients.resources.resourceGroups.createOrUpdate("rg-blob-gone", { location: "westeurope" });
      const created = await azure.clients.storage.storageAccounts.create("rg-blob-gone", "stgone1", {
        location: "westeurope",
        sku: { name: "Standard_LRS" },
        kind: "StorageV2",
      });
      await grant(created.id!, ROLES.blobDataContributor, SANDBOX_BROKER_OBJECT_ID);
      return createBlobServiceClient(azure.sandbox.context(), "stgone1");
    };
    const first = await make();
    await first.setProperties({ staticWebsite: { enabled: true, indexDocument: "index.html" } });
    await first.getContainerClient("$web").getBlockBlobClient("index.html").upload("<h1>old</h1>", 12);
    expect((azure.sandbox.inspect().blob as Record<string, unknown>).stgone1).toBeDefined();

    await azure.clients.resources.resourceGroups.beginDeleteAndWait("rg-blob-gone");
    // Gone from the store (and so from the state directory), not only hidden behind a missing account.
    expect((azure.sandbox.inspect().blob as Record<string, unknown>).stgone1).toBeUndefined();
    const second = await make();
    expect((await second.getProperties()).staticWebsite?.enabled).toBe(false);
    expect(await failure(second.getContainerClient("$web").getProperties())).toMatchObject({ statusCode: 404 });
  });
});
