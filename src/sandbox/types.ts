/**
 * The contract between the sandbox's HTTPS front door and the emulated services behind it.
 * Every service (ARM, Key Vault data plane, Microsoft Graph, token endpoint, blob, static website)
 * contributes `SandboxRoute`s; the server matches host + method + path pattern and calls the
 * handler. Handlers are thin: parse, call the service's store, return a typed response.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Caller } from "./auth";

/** Which emulated service a request is for; decided from the request's host name. */
export type SandboxService = "arm" | "keyvault" | "graph" | "login" | "blob" | "web";

/** Throttling bucket an ARM request draws from (azure-facts.md §G). */
export type ArmOperationKind = "read" | "write" | "delete";

export interface SandboxRequest {
  service: SandboxService;
  method: string;
  /** Host name without port, lowercased: e.g. `myvault.vault.sandbox.localhost`. */
  host: string;
  /** Path without query string, percent-decoded per segment. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when the body was empty. */
  body: unknown;
  rawBody: Buffer;
  /** Values captured by the route pattern (`:name` segments), case preserved. */
  params: Record<string, string>;
  /** `x-ms-request-id` the response will carry. */
  requestId: string;
  /** Base URL clients used to reach this service (scheme, host, port), for Location headers and ids. */
  baseUrl: string;
  /** Who called, once the front door (ARM) or the service (data planes) has validated the token. */
  caller?: Caller;
}

export interface SandboxResponse {
  status: number;
  headers?: Record<string, string>;
  /** Serialized as JSON unless it is a Buffer or string. */
  body?: unknown;
}

export type SandboxHandler = (request: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;

export interface SandboxRoute {
  service: SandboxService;
  method: "GET" | "PUT" | "POST" | "PATCH" | "DELETE" | "HEAD";
  /**
   * Path pattern, matched case-insensitively on literal segments as ARM does:
   * `/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName`. A trailing `/*rest`
   * captures the remainder.
   */
  pattern: string;
  handler: SandboxHandler;
  /** ARM only: which throttling bucket this operation draws from. */
  armKind?: ArmOperationKind;
  /** Resource type for per-type latency faults, e.g. `Microsoft.App/containerApps`. */
  resourceType?: string;
}

/** Error thrown by handlers; the server renders it in the owning service's error shape. */
export class SandboxHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "SandboxHttpError";
  }
}
