// Seeds OpenClaw's config on the Azure Files share before the gateway starts (init container).
// First start: write the config Shire generated. Later starts: keep everything the operator or
// OpenClaw changed, and re-assert only the keys Shire manages (gateway wiring, channel wiring).
// Channels Shire turned off are disabled (`enabled: false`), never deleted. Then the plugins the
// channels need are installed onto the share, pinned, unless the image baked them in.
// Input: OPENCLAW_SEED_CONFIG (JSON), OPENCLAW_CONFIG_PATH (file on the share),
// OPENCLAW_SEED_DISABLE (JSON list of dotted paths), OPENCLAW_SEED_PLUGINS (JSON list of npm
// specs), OPENCLAW_ENTRY (the gateway's openclaw.mjs), OPENCLAW_SEED_PLUGINS_DIR (baked plugins).
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const target = process.env.OPENCLAW_CONFIG_PATH;
const seed = JSON.parse(process.env.OPENCLAW_SEED_CONFIG || "{}");
if (!target) throw new Error("OPENCLAW_CONFIG_PATH is not set");

function merge(base, managed) {
  const out = base && typeof base === "object" && !Array.isArray(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(managed)) {
    out[key] = value && typeof value === "object" && !Array.isArray(value) ? merge(out[key], value) : value;
  }
  return out;
}

let current = {};
if (fs.existsSync(target)) {
  try {
    current = JSON.parse(fs.readFileSync(target, "utf8"));
  } catch (error) {
    // JSON5 written by hand: keep a copy and start from the seed rather than fail the revision.
    fs.copyFileSync(target, `${target}.unparsed-${Date.now()}`);
    console.error(`seed-config: existing config is not plain JSON (${error.message}); kept a copy.`);
  }
}
fs.mkdirSync(path.dirname(target), { recursive: true });

// Plugins baked into the runtime image (infra/openclaw/Dockerfile) are copied onto the share the
// first time: OpenClaw loads installed plugin packages from its state dir.
const bakedPlugins = process.env.OPENCLAW_SEED_PLUGINS_DIR && path.join(process.env.OPENCLAW_SEED_PLUGINS_DIR, "npm");
const sharePlugins = path.join(path.dirname(target), "npm");
if (bakedPlugins && fs.existsSync(bakedPlugins) && !fs.existsSync(sharePlugins)) {
  fs.cpSync(bakedPlugins, sharePlugins, { recursive: true });
  console.log(`seed-config: copied baked plugins to ${sharePlugins}`);
}

const next = merge(current, seed);
for (const dotted of JSON.parse(process.env.OPENCLAW_SEED_DISABLE || "[]")) {
  const parts = dotted.split(".");
  const parent = parts.slice(0, -1).reduce((node, key) => (node && typeof node === "object" ? node[key] : undefined), next);
  const entry = parent && parent[parts[parts.length - 1]];
  if (entry && typeof entry === "object" && entry.enabled !== false) {
    entry.enabled = false;
    console.log(`seed-config: disabled ${dotted}`);
  }
}
fs.writeFileSync(`${target}.tmp`, JSON.stringify(next, null, 2));
fs.renameSync(`${target}.tmp`, target);
console.log(`seed-config: ${Object.keys(current).length ? "updated" : "wrote"} ${target}`);

/** The version of an installed plugin package on the share (OpenClaw installs under npm/projects/<id>/). */
function installedVersion(name) {
  const projects = path.join(sharePlugins, "projects");
  if (!fs.existsSync(projects)) return undefined;
  for (const project of fs.readdirSync(projects)) {
    const manifest = path.join(projects, project, "node_modules", ...name.split("/"), "package.json");
    if (fs.existsSync(manifest)) return JSON.parse(fs.readFileSync(manifest, "utf8")).version;
  }
  return undefined;
}

const entry = process.env.OPENCLAW_ENTRY || "/app/openclaw.mjs";
for (const spec of JSON.parse(process.env.OPENCLAW_SEED_PLUGINS || "[]")) {
  const at = spec.lastIndexOf("@");
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : undefined;
  const installed = installedVersion(name);
  if (installed && (!version || installed === version)) {
    console.log(`seed-config: plugin ${name}@${installed} present`);
    continue;
  }
  console.log(`seed-config: installing plugin ${spec}${installed ? ` (replacing ${installed})` : ""}`);
  const result = spawnSync(process.execPath, [entry, "plugins", "install", spec], { cwd: path.dirname(entry), env: process.env, stdio: "inherit" });
  // A channel without its plugin silently never answers: fail the revision instead, visibly.
  if (result.status !== 0) {
    console.error(`seed-config: installing ${spec} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}
