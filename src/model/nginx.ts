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

export function renderNginxConfig(options: NginxOptions): string {
  const template = fs.readFileSync(findRepoFile("infra", "nginx", "nginx.conf.template"), "utf8");
  const teams = options.teamsPort !== undefined;
  const telegram = options.telegram;
  if (telegram && !/^\/[A-Za-z0-9/_-]+$/.test(telegram.path))
    throw new RangeError(`Telegram webhook path '${telegram.path}' must be a plain absolute path.`);
  const values: Record<string, string> = {
    LISTEN_PORT: String(options.listenPort),
    GATEWAY_PORT: String(options.gatewayPort),
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
