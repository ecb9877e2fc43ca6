/**
 * What runs in the Container App: the OpenClaw container (config seeded onto the Azure Files
 * share by an init container, secrets as Container App secret references, bind `lan`, token
 * auth, 127.0.0.1 as trusted proxy, the app's FQDN as the allowed origin) and the NGINX sidecar
 * the ingress targets. No secret value appears here: only secret names.
 */
import fs from "node:fs";
import type { NodeReference } from "../contract/reference";
import { renderNginxConfig, TEAMS_WEBHOOK_PATH } from "./nginx";
import { findRepoFile } from "../paths";
import { openClawVersionOf, type PluginPin } from "./spec";

/** `readiness`: the state lease supervisor's readiness listener, which reads the gateway's JSON (gateway-supervisor.js). */
export const OPENCLAW_PORTS = {
  gateway: 18789,
  teams: 3978,
  telegramWebhook: 8787,
  nginx: 8080,
  readiness: 18790,
} as const;
export const OPENCLAW_STATE_MOUNT = "/home/node/.openclaw";
export const OPENCLAW_CONFIG_PATH = `${OPENCLAW_STATE_MOUNT}/openclaw.json`;
/**
 * OpenClaw also keeps state under `$XDG_CONFIG_HOME/openclaw` (~/.config/openclaw: the auth
 * profiles' encryption key). Pointing XDG_CONFIG_HOME into the share keeps it with the rest.
 */
export const OPENCLAW_XDG_CONFIG_HOME = `${OPENCLAW_STATE_MOUNT}/.config`;
/**
 * SMB mount options for the state share: owned by the image's `node` user (uid/gid 1000) with
 * private modes instead of root:0777 (0700 for files too: plugin and skill scripts on the share
 * must stay executable), and `mfsymlinks` because npm (plugin installs) creates symlinks.
 * Byte-range locks stay on (no `nobrl`): OpenClaw uses SQLite's rollback journal on SMB and locks
 * its own gateway lock file, both of which rely on them. While a revision replaces another, both
 * replicas mount the share; the state lease (gateway-supervisor.js) keeps them from using it at
 * the same time (docs/state.md).
 */
export const STATE_MOUNT_OPTIONS = "uid=1000,gid=1000,dir_mode=0700,file_mode=0700,mfsymlinks";
/** Where the gateway's entry point is in the official image (WORKDIR /app). */
export const OPENCLAW_ENTRY = "/app/openclaw.mjs";
export const TELEGRAM_WEBHOOK_PATH = "/telegram-webhook";
/** The sidecar image, pinned. */
export const NGINX_IMAGE = "docker.io/library/nginx:1.27.3-alpine";

type Value = string | NodeReference;

export interface OpenClawContainerInputs {
  image: string;
  nginxImage?: string;
  /** Origin users reach the app on, e.g. `https://openclaw.<env default domain>` (may be a reference). */
  appOrigin: Value;
  channels: { teams: boolean; telegram?: { mode: "polling" | "webhook" }; whatsapp: boolean };
  /** Container App secret names (each a Key Vault reference). */
  secretNames: {
    gatewayToken: string;
    teamsAppPassword?: string;
    telegramBotToken?: string;
    telegramWebhookSecret?: string;
    foundryApiKey?: string;
  };
  /**
   * The Teams bot's credentials: its app id and tenant, with the password secret above (an app
   * registration), or `managedIdentity` (the app id is the replica's user-assigned identity's
   * client id, and the plugin takes Bot Framework tokens from that identity: no password).
   */
  teams?: { appId: Value; tenantId: string; managedIdentity?: boolean };
  foundry?: { endpoint: string; deployment?: string };
  /** Plugins the seed brings to their pinned versions on the share. */
  plugins: PluginPin[];
  volumeName: string;
  /** Totals across both containers; the sidecar takes 0.25 vCPU / 0.5Gi. */
  resources: { cpu: number; memory: string };
}

/** `gateway.auth.rateLimit` (OpenClaw docs/gateway/security/rate-limiting.md). */
export const GATEWAY_AUTH_RATE_LIMIT = {
  maxAttempts: 10,
  windowMs: 60_000,
  lockoutMs: 300_000,
  exemptLoopback: true,
} as const;

/** The first OpenClaw release with `/startupz`. */
export const STARTUPZ_SINCE = "2026.8.1";

function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((version) => version.split(".").map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/**
 * The readiness probe's path for an image. `/startupz` is what OpenClaw recommends for
 * orchestrators: it reports start-up and traffic admission but not channel health, so a channel
 * that cannot connect (a wrong Telegram token) does not take the Control UI out of traffic, as
 * `/readyz` does. It exists from 2026.8.1 on. On an older gateway the path falls through to the
 * Control UI, which answers every unknown path with 200 and its HTML; Container Apps' probes look
 * at the status only, so such a probe would pass from the first second and send traffic to (and,
 * in Single revision mode, retire the old revision for) a gateway that has not started. So an
 * image whose tag names no version (a digest alone, `latest`) or an older one gets `/readyz`,
 * which every supported release answers and which fails closed; name the version in the tag
 * (`...:2026.9.6@sha256:...`) to get `/startupz` with a pinned digest.
 */
export function readinessProbePath(image: string): "/startupz" | "/readyz" {
  const version = openClawVersionOf(image);
  return version !== undefined && compareVersions(version, STARTUPZ_SINCE) >= 0 ? "/startupz" : "/readyz";
}

/**
 * The seed init container's resources. It runs node and, when a plugin is missing or at another
 * version, OpenClaw's CLI installing it (an npm install): installing the Teams plugin for
 * 2026.9.6 peaked at about 520 MB resident and took 40 s on two cores, so 1Gi leaves room.
 * Container Apps takes init container resources in the same ranges as containers' (cpu > 0 in
 * steps of 0.01, memory in Gi). This is an allowed Consumption pair by itself, so the replica's
 * allocation stays an allowed pair whether the platform counts it on top of the app's containers
 * or, as Kubernetes does, takes the larger of the two (init containers run first).
 */
export const SEED_RESOURCES = { cpu: 0.5, memory: "1Gi" } as const;

/** The seed openclaw.json (no secrets: tokens come from the environment). */
export function buildOpenClawConfig(inputs: OpenClawContainerInputs, appOrigin: string): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  if (inputs.channels.teams) {
    channels.msteams = {
      enabled: true,
      webhook: { port: OPENCLAW_PORTS.teams, path: TEAMS_WEBHOOK_PATH },
      // @openclaw/msteams: federated auth through a managed identity, no appPassword. The app id
      // and the identity's client id (the same id) come from the environment: the identity's
      // client id is known only once it exists, and the plugin reads MSTEAMS_APP_ID and
      // MSTEAMS_MANAGED_IDENTITY_CLIENT_ID where the config names none.
      ...(inputs.teams?.managedIdentity ? { authType: "federated", useManagedIdentity: true } : {}),
    };
  }
  if (inputs.channels.telegram) {
    channels.telegram =
      inputs.channels.telegram.mode === "webhook"
        ? {
            enabled: true,
            webhookUrl: `${appOrigin}${TELEGRAM_WEBHOOK_PATH}`,
            // Required in webhook mode (CVE-2026-25474): read from the environment, never written here.
            webhookSecret: { source: "env", provider: "default", id: "TELEGRAM_WEBHOOK_SECRET" },
            webhookPath: TELEGRAM_WEBHOOK_PATH,
            webhookHost: "127.0.0.1",
            webhookPort: OPENCLAW_PORTS.telegramWebhook,
          }
        : { enabled: true };
  }
  const config: Record<string, unknown> = {
    gateway: {
      mode: "local",
      bind: "lan",
      port: OPENCLAW_PORTS.gateway,
      // Failed gateway-token attempts per client address (the one nginx recovers from
      // X-Forwarded-For), OpenClaw's defaults made explicit: without the key `openclaw security
      // audit` warns gateway.auth_no_rate_limit. Loopback stays exempt: only processes in the
      // replica (an operator's `openclaw` CLI through `az containerapp exec`) connect from there
      // without proxy headers, and a forwarded loopback client is refused outright.
      auth: { mode: "token", rateLimit: GATEWAY_AUTH_RATE_LIMIT },
      trustedProxies: ["127.0.0.1"],
      controlUi: { allowedOrigins: [appOrigin] },
    },
  };
  if (inputs.channels.whatsapp) {
    // A linked device: no webhook. Linking is interactive (`openclaw channels login --channel
    // whatsapp`, or the Control UI's QR code); the credentials persist on the share.
    channels.whatsapp = { enabled: true };
  }
  if (Object.keys(channels).length > 0) config.channels = channels;
  if (inputs.channels.teams) config.plugins = { entries: { msteams: { enabled: true } } };
  if (inputs.foundry) {
    // The bundled microsoft-foundry provider: key from AZURE_OPENAI_API_KEY, model ref by deployment.
    config.models = { providers: { "microsoft-foundry": { baseUrl: inputs.foundry.endpoint } } };
    if (inputs.foundry.deployment)
      config.agents = { defaults: { model: { primary: `microsoft-foundry/${inputs.foundry.deployment}` } } };
  }
  return config;
}

/** Config paths of channels Shire wires but this slug has turned off: the seed disables them. */
export function disabledChannelPaths(inputs: Pick<OpenClawContainerInputs, "channels">): string[] {
  return [
    ...(inputs.channels.teams ? [] : ["channels.msteams", "plugins.entries.msteams"]),
    ...(inputs.channels.telegram ? [] : ["channels.telegram"]),
    ...(inputs.channels.whatsapp ? [] : ["channels.whatsapp", "plugins.entries.whatsapp"]),
  ];
}

/** The seed script run by the init container, from infra/openclaw/seed-config.js. */
export function seedScript(): string {
  return fs.readFileSync(findRepoFile("infra", "openclaw", "seed-config.js"), "utf8");
}

/**
 * The state lease supervisor, from infra/openclaw/gateway-supervisor.js: it runs the seed (`once`)
 * and the gateway (`run`) only while this replica holds the lease on the share, so a new revision
 * and the old one never both use the state (docs/state.md).
 */
export function gatewaySupervisorScript(): string {
  return fs.readFileSync(findRepoFile("infra", "openclaw", "gateway-supervisor.js"), "utf8");
}

const env = (name: string, value: Value) => ({ name, value });
const secretEnv = (name: string, secretRef: string) => ({ name, secretRef });

/** `appOrigin` may be a run-time reference; the seed config embeds it through a format string. */
function seedConfigValue(inputs: OpenClawContainerInputs): Value {
  const marker = "__SHIRE_APP_ORIGIN__";
  const json = JSON.stringify(buildOpenClawConfig(inputs, marker));
  if (typeof inputs.appOrigin === "string") return json.split(marker).join(inputs.appOrigin);
  return { ...inputs.appOrigin, format: json.split(marker).join(inputs.appOrigin.format ?? "${value}") };
}

export function buildOpenClawContainerSpec(inputs: OpenClawContainerInputs) {
  const sidecar = { cpu: 0.25, memory: "0.5Gi" };
  const openclawCpu = inputs.resources.cpu - sidecar.cpu;
  const openclawMemory = `${Number.parseFloat(inputs.resources.memory) - 0.5}Gi`;
  const names = inputs.secretNames;
  const openclawEnv = [
    env("OPENCLAW_STATE_DIR", OPENCLAW_STATE_MOUNT),
    env("OPENCLAW_CONFIG_PATH", OPENCLAW_CONFIG_PATH),
    env("XDG_CONFIG_HOME", OPENCLAW_XDG_CONFIG_HOME),
    env("OPENCLAW_DISABLE_BONJOUR", "1"),
    env("OPENCLAW_GATEWAY_PORT", String(OPENCLAW_PORTS.gateway)),
    // The readiness probe's listener: ready only when the gateway's readiness path says so in JSON.
    env("SHIRE_READY_PORT", String(OPENCLAW_PORTS.readiness)),
    env("SHIRE_GATEWAY_READY_PATH", readinessProbePath(inputs.image)),
    secretEnv("OPENCLAW_GATEWAY_TOKEN", names.gatewayToken),
    // No APPLICATIONINSIGHTS_CONNECTION_STRING: nothing in OpenClaw reads it (its telemetry is the
    // diagnostics-otel plugin's OTLP/HTTP export; docs/operations.md, "Known limits").
    ...(inputs.teams?.managedIdentity
      ? [
          env("MSTEAMS_APP_ID", inputs.teams.appId),
          env("MSTEAMS_TENANT_ID", inputs.teams.tenantId),
          // MSAL's ManagedIdentityApplication asks Container Apps' identity endpoint for this
          // user-assigned identity (attached to the app: its identityResourceId).
          env("MSTEAMS_MANAGED_IDENTITY_CLIENT_ID", inputs.teams.appId),
        ]
      : inputs.teams && names.teamsAppPassword
        ? [
            env("MSTEAMS_APP_ID", inputs.teams.appId),
            env("MSTEAMS_TENANT_ID", inputs.teams.tenantId),
            secretEnv("MSTEAMS_APP_PASSWORD", names.teamsAppPassword),
          ]
        : []),
    ...(inputs.channels.telegram && names.telegramBotToken
      ? [secretEnv("TELEGRAM_BOT_TOKEN", names.telegramBotToken)]
      : []),
    ...(inputs.channels.telegram?.mode === "webhook" && names.telegramWebhookSecret
      ? [secretEnv("TELEGRAM_WEBHOOK_SECRET", names.telegramWebhookSecret)]
      : []),
    ...(inputs.foundry && names.foundryApiKey ? [secretEnv("AZURE_OPENAI_API_KEY", names.foundryApiKey)] : []),
  ];
  const nginxConfig = renderNginxConfig({
    listenPort: OPENCLAW_PORTS.nginx,
    gatewayPort: OPENCLAW_PORTS.gateway,
    teamsPort: inputs.channels.teams ? OPENCLAW_PORTS.teams : undefined,
    telegram:
      inputs.channels.telegram?.mode === "webhook"
        ? { path: TELEGRAM_WEBHOOK_PATH, port: OPENCLAW_PORTS.telegramWebhook }
        : undefined,
  });
  const mount = [{ volumeName: inputs.volumeName, mountPath: OPENCLAW_STATE_MOUNT }];
  return {
    initContainers: [
      {
        name: "seed-config",
        image: inputs.image,
        command: ["node", "-e", gatewaySupervisorScript(), "once", "node", "-e", seedScript()],
        env: [
          env("OPENCLAW_STATE_DIR", OPENCLAW_STATE_MOUNT),
          env("OPENCLAW_CONFIG_PATH", OPENCLAW_CONFIG_PATH),
          env("XDG_CONFIG_HOME", OPENCLAW_XDG_CONFIG_HOME),
          env("OPENCLAW_ENTRY", OPENCLAW_ENTRY),
          env("OPENCLAW_SEED_CONFIG", seedConfigValue(inputs)),
          env("OPENCLAW_SEED_PLUGINS", JSON.stringify(inputs.plugins)),
          env("OPENCLAW_SEED_DISABLE", JSON.stringify(disabledChannelPaths(inputs))),
        ],
        resources: SEED_RESOURCES,
        volumeMounts: mount,
      },
    ],
    containers: [
      {
        name: "openclaw",
        image: inputs.image,
        // The image's entrypoint is tini; override only the command it runs (CMD): the gateway, bound to the
        // replica's network, under the state lease supervisor.
        args: [
          "node",
          "-e",
          gatewaySupervisorScript(),
          "run",
          "node",
          "openclaw.mjs",
          "gateway",
          "--bind",
          "lan",
          "--port",
          String(OPENCLAW_PORTS.gateway),
        ],
        env: openclawEnv,
        resources: { cpu: openclawCpu, memory: openclawMemory },
        volumeMounts: mount,
        probes: [
          // Start-up takes a while (state migrations under an SQLite lease, plugin convergence):
          // up to 10 + 60 x 5 s before liveness applies. Container Apps takes failureThreshold
          // 1-240 for startup probes (1-30 liveness, 1-48 readiness; the schema's "1-10" is stale).
          {
            type: "Startup",
            httpGet: { path: "/healthz", port: OPENCLAW_PORTS.gateway },
            initialDelaySeconds: 10,
            periodSeconds: 5,
            failureThreshold: 60,
            timeoutSeconds: 3,
          },
          {
            type: "Liveness",
            httpGet: { path: "/healthz", port: OPENCLAW_PORTS.gateway },
            periodSeconds: 30,
            failureThreshold: 3,
            timeoutSeconds: 5,
          },
          {
            // The supervisor's listener, which asks the gateway's readiness path
            // (readinessProbePath) and passes only a JSON body that says ready: a probe of the
            // gateway itself would read the status alone.
            type: "Readiness",
            httpGet: { path: "/ready", port: OPENCLAW_PORTS.readiness },
            periodSeconds: 10,
            failureThreshold: 6,
            timeoutSeconds: 5,
          },
        ],
      },
      {
        name: "nginx",
        image: inputs.nginxImage ?? NGINX_IMAGE,
        // Config travels in an environment variable: the stock image, no custom build, no secret in it.
        command: [
          "/bin/sh",
          "-c",
          "printf '%s' \"$SHIRE_NGINX_CONF\" > /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf -g 'daemon off;'",
        ],
        env: [env("SHIRE_NGINX_CONF", nginxConfig)],
        resources: sidecar,
        probes: [
          { type: "Liveness", tcpSocket: { port: OPENCLAW_PORTS.nginx }, periodSeconds: 30, failureThreshold: 3 },
        ],
      },
    ],
    ingress: { external: true, targetPort: OPENCLAW_PORTS.nginx, transport: "auto" as const, allowInsecure: false },
    nginxConfig,
  };
}
