/**
 * The NGINX sidecar's configuration: `POST /api/messages` to the Teams webhook, the Telegram
 * webhook path to its port when Telegram runs in webhook mode, everything else (HTTP and
 * WebSocket) to the gateway. Rendered from infra/nginx/nginx.conf.template.
 */
import fs from "node:fs";
import { findRepoFile } from "../paths";

export interface NginxOptions {
  listenPort: number;
  gatewayPort: number;
  teamsPort?: number;
  telegram?: { path: string; port: number };
}

export const TEAMS_WEBHOOK_PATH = "/api/messages";

/**
 * The hops in front of the sidecar whose X-Forwarded-For entries nginx believes (realip module,
 * `set_real_ip_from`). With sign-in on, the authentication middleware is a sidecar in the same
 * replica and connects from loopback; Container Apps' ingress (Envoy) connects from a private
 * address of the environment: observed as 100.100.x.x (CGNAT range) in current environments and
 * 10.x in older ones (microsoft/azure-container-apps#1416, #272), and from the infrastructure
 * subnet (RFC 1918) in an environment on a custom VNet. No internet client connects from these
 * ranges: one environment holds one slug's app, so nothing else in it sends requests here.
 */
export const PLATFORM_HOPS = [
  "127.0.0.0/8",
  "::1",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
] as const;

export function renderNginxConfig(options: NginxOptions): string {
  const template = fs.readFileSync(findRepoFile("infra", "nginx", "nginx.conf.template"), "utf8");
  const teams = options.teamsPort !== undefined;
  const telegram = options.telegram;
  if (telegram && !/^\/[A-Za-z0-9/_-]+$/.test(telegram.path))
    throw new RangeError(`Telegram webhook path '${telegram.path}' must be a plain absolute path.`);
  const values: Record<string, string> = {
    LISTEN_PORT: String(options.listenPort),
    GATEWAY_PORT: String(options.gatewayPort),
    REAL_IP_FROM: PLATFORM_HOPS.map((range) => `  set_real_ip_from ${range};\n`).join(""),
    TEAMS_UPSTREAM: teams ? `\n  upstream teams_webhook {\n    server 127.0.0.1:${options.teamsPort};\n  }\n` : "",
    TELEGRAM_UPSTREAM: telegram ? `\n  upstream telegram_webhook {\n    server 127.0.0.1:${telegram.port};\n  }\n` : "",
    // Exact match: only this path reaches the Teams port, and only with POST.
    TEAMS_LOCATION: teams
      ? `\n    location = ${TEAMS_WEBHOOK_PATH} {\n      limit_except POST { deny all; }\n      proxy_read_timeout 60s;\n      proxy_pass http://teams_webhook;\n    }\n`
      : "",
    TELEGRAM_LOCATION: telegram
      ? `\n    location = ${telegram.path} {\n      limit_except POST { deny all; }\n      proxy_pass http://telegram_webhook;\n    }\n`
      : "",
  };
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`nginx template placeholder {{${key}}} has no value`);
    return values[key];
  });
}
