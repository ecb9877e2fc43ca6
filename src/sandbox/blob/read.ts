/** A stored block blob, and how GET/HEAD answer with it (shared by the blob and web endpoints). */
import { SandboxHttpError, type SandboxRequest, type SandboxResponse } from "../types";

export interface StoredBlob {
  content: Buffer;
  /** HTTP properties set with the blob (x-ms-blob-content-*), cleared together by Set Blob Properties. */
  httpHeaders: {
    contentType: string;
    contentMd5?: string;
    contentEncoding?: string;
    contentLanguage?: string;
    contentDisposition?: string;
    cacheControl?: string;
  };
  metadata: Record<string, string>;
  lastModified: number;
  etag: string;
}

/** GET/HEAD of a blob's content and properties, honouring `x-ms-range`/`Range` (206, or 416). */
export function readBlob(
  request: SandboxRequest,
  stored: StoredBlob,
  base: Record<string, string>,
  status = 200,
): SandboxResponse {
  const h = stored.httpHeaders;
  const headers: Record<string, string> = {
    ...base,
    etag: stored.etag,
    "last-modified": new Date(stored.lastModified).toUTCString(),
    "content-type": h.contentType,
    "accept-ranges": "bytes",
    "x-ms-blob-type": "BlockBlob",
    "x-ms-server-encrypted": "true",
    ...(h.contentMd5 ? { "content-md5": h.contentMd5 } : {}),
    ...(h.contentEncoding ? { "content-encoding": h.contentEncoding } : {}),
    ...(h.contentLanguage ? { "content-language": h.contentLanguage } : {}),
    ...(h.contentDisposition ? { "content-disposition": h.contentDisposition } : {}),
    ...(h.cacheControl ? { "cache-control": h.cacheControl } : {}),
    ...Object.fromEntries(Object.entries(stored.metadata).map(([key, value]) => [`x-ms-meta-${key}`, value])),
  };
  const rangeHeader = String(request.headers["x-ms-range"] ?? request.headers.range ?? "");
  const range = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader);
  if (range && request.method === "GET") {
    const size = stored.content.length;
    const start = Number(range[1]);
    const end = range[2] === "" ? size - 1 : Math.min(Number(range[2]), size - 1);
    if (start >= size || end < start)
      throw new SandboxHttpError(
        416,
        "InvalidRange",
        "The range specified is invalid for the current size of the resource.",
        { "content-range": `bytes */${size}` },
      );
    const slice = stored.content.subarray(start, end + 1);
    return {
      status: 206,
      headers: { ...headers, "content-length": String(slice.length), "content-range": `bytes ${start}-${end}/${size}` },
      body: slice,
    };
  }
  return {
    status,
    headers: { ...headers, "content-length": String(stored.content.length) },
    body: request.method === "HEAD" ? undefined : stored.content,
  };
}
