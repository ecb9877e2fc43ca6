// Seeds OpenClaw's config on the Azure Files share before the gateway starts (init container).
// First start: write the config Shire generated. Later starts: keep everything the operator or
// OpenClaw changed, and re-assert only the keys Shire manages (gateway wiring, channel wiring).
// Input: OPENCLAW_SEED_CONFIG (JSON), OPENCLAW_CONFIG_PATH (file on the share).
const fs = require("node:fs");
const path = require("node:path");

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
fs.writeFileSync(`${target}.tmp`, JSON.stringify(next, null, 2));
fs.renameSync(`${target}.tmp`, target);
console.log(`seed-config: ${Object.keys(current).length ? "updated" : "wrote"} ${target}`);
