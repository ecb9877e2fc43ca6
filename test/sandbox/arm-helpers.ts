/** Shared by the arm-*.test.ts files: raw ARM requests (for what the SDK cannot send), ids and api-versions. */
import https from "node:https";
import { it } from "vitest";
import type { Sandbox } from "../../src/sandbox";
import { findSchemasDir } from "../../src/sandbox/arm/schemas";
import { roleId } from "./helpers";

/**
 * For checks that only the official ARM schemas make (../shared/reference/specs): that folder is
 * reference data beside the checkout, never copied in, so a checkout without it skips these and
 * says so in the report rather than failing on checks the sandbox cannot make there.
 */
export const itWithSchemas = it.skipIf(!findSchemasDir());

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // Response bodies are read loosely: the assertions say what matters.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** One HTTPS request to the emulated ARM, authenticated like the app's own clients. `path` may be a full URL the sandbox handed out. */
export async function armRaw(sandbox: Sandbox, method: string, path: string, body?: unknown): Promise<RawResponse> {
  const token = (await sandbox.context().credential.getToken(sandbox.endpoints.armScope))!.token;
  const target = path.startsWith("https://") ? new URL(path) : undefined;
  const requestPath = target ? `${target.pathname}${target.search}` : path;
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port: sandbox.port,
        method,
        path: requestPath,
        servername: "management.sandbox.localhost",
        // A connection of its own: a kept-alive one may belong to a sandbox that has since restarted.
        agent: false,
        ca: sandbox.caCertificatePem,
        headers: {
          host: `management.sandbox.localhost:${sandbox.port}`,
          authorization: `Bearer ${token}`,
          ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}),
        },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed });
        });
      },
    );
    request.on("error", reject);
    if (data) request.write(data);
    request.end();
  });
}

/** An ARM error response as the assertions compare it. */
export const errorBody = (response: { status: number; body: { error?: { code?: string; message?: string } } }) => ({
  status: response.status,
  code: response.body?.error?.code,
  message: response.body?.error?.message,
});

export const API = {
  resources: "2025-04-01",
  app: "2025-07-01",
  keyVault: "2026-02-01",
  storage: "2025-08-01",
  identity: "2024-11-30",
  authorization: "2022-04-01",
  insights: "2022-10-01",
  workspaces: "2025-07-01",
  components: "2020-02-02",
  cognitive: "2025-09-01",
  bot: "2022-09-15",
  registry: "2025-11-01",
} as const;

export function ids(sandbox: Sandbox) {
  const subscription = `/subscriptions/${sandbox.env.subscriptionId}`;
  const group = (name: string) => `${subscription}/resourceGroups/${name}`;
  return {
    subscription,
    group,
    resource: (groupName: string, provider: string, ...rest: string[]) =>
      `${group(groupName)}/providers/${provider}/${rest.join("/")}`,
    role: (guid: string) => roleId(sandbox, guid),
  };
}
