// Seeds OpenClaw's config on the Azure Files share before the gateway starts (init container).
// First start: write the config Shire generated. Later starts: keep everything the operator or
// OpenClaw changed, and re-assert only the keys Shire manages (gateway wiring, channel wiring).
// Channels Shire turned off are disabled (`enabled: false`), never deleted.
//
// Then the plugins the channels need are brought to the pinned version with OpenClaw's own CLI
// (`plugins install`, or `plugins update` when another version is there), from a tarball baked
// into the image when there is one, else from npm. A channel's wiring is written only once its
// plugin is installed: with the wiring present and the plugin missing, OpenClaw would fetch an
// unpinned copy itself, and the pinned install would then stop on "already exists".
//
// Input: OPENCLAW_SEED_CONFIG (JSON), OPENCLAW_CONFIG_PATH (file on the share),
// OPENCLAW_SEED_DISABLE (JSON list of dotted paths), OPENCLAW_SEED_PLUGINS (JSON list of
// {id, spec: "<package>@<version>"}), OPENCLAW_ENTRY (the gateway's openclaw.mjs),
// OPENCLAW_SEED_PLUGIN_ARCHIVES (a directory of `npm pack` tarballs baked into the image).
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const target = process.env.OPENCLAW_CONFIG_PATH;
const seed = JSON.parse(process.env.OPENCLAW_SEED_CONFIG || "{}");
const plugins = JSON.parse(process.env.OPENCLAW_SEED_PLUGINS || "[]");
const entry = process.env.OPENCLAW_ENTRY || "/app/openclaw.mjs";
if (!target) throw new Error("OPENCLAW_CONFIG_PATH is not set");

function merge(base, managed) {
  const out = base && typeof base === "object" && !Array.isArray(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(managed)) {
    out[key] = value && typeof value === "object" && !Array.isArray(value) ? merge(out[key], value) : value;
  }
  return out;
}

function readConfig() {
  if (!fs.existsSync(target)) return {};
  try {
    return JSON.parse(fs.readFileSync(target, "utf8"));
  } catch (error) {
    // JSON5 written by hand: keep a copy and start from the seed rather than fail the revision.
    fs.copyFileSync(target, `${target}.unparsed-${Date.now()}`);
    console.error(`seed-config: existing config is not plain JSON (${error.message}); kept a copy.`);
    return {};
  }
}

function writeConfig(config) {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // Owner-only, as `openclaw security audit` wants (fs.config.perms_world_readable is critical).
  // On the slug's share the mount options decide modes anyway (file_mode=0700).
  fs.writeFileSync(`${target}.tmp`, JSON.stringify(config, null, 2), { mode: 0o600 });
  fs.chmodSync(`${target}.tmp`, 0o600);
  fs.renameSync(`${target}.tmp`, target);
}

/** The seed without the wiring of plugins in `pending` (ids): written before those are installed. */
function withoutWiring(config, pending) {
  const copy = JSON.parse(JSON.stringify(config));
  for (const id of pending) {
    if (copy.channels) delete copy.channels[id];
    if (copy.plugins && copy.plugins.entries) delete copy.plugins.entries[id];
  }
  return copy;
}

function disable(config) {
  for (const dotted of JSON.parse(process.env.OPENCLAW_SEED_DISABLE || "[]")) {
    const parts = dotted.split(".");
    const parent = parts
      .slice(0, -1)
      .reduce((node, key) => (node && typeof node === "object" ? node[key] : undefined), config);
    const found = parent && parent[parts[parts.length - 1]];
    if (found && typeof found === "object" && found.enabled !== false) {
      found.enabled = false;
      console.log(`seed-config: disabled ${dotted}`);
    }
  }
  return config;
}

function openclaw(args) {
  return spawnSync(process.execPath, [entry, ...args], {
    cwd: path.dirname(entry),
    env: process.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * Installed (not bundled) plugins by id -> version, from `openclaw plugins list --json`. Its
 * output goes to a file: the CLI exits right after writing, which can cut a pipe short.
 */
function installedPlugins() {
  const file = path.join(require("node:os").tmpdir(), `seed-plugins-${process.pid}-${Date.now()}.json`);
  const out = fs.openSync(file, "w");
  let listed;
  try {
    listed = spawnSync(process.execPath, [entry, "plugins", "list", "--json"], {
      cwd: path.dirname(entry),
      env: process.env,
      encoding: "utf8",
      stdio: ["ignore", out, "pipe"],
    });
  } finally {
    fs.closeSync(out);
  }
  const text = fs.readFileSync(file, "utf8");
  fs.rmSync(file, { force: true });
  if (listed.status !== 0) throw new Error(`openclaw plugins list failed (exit ${listed.status}): ${listed.stderr}`);
  const versions = {};
  for (const plugin of JSON.parse(text).plugins || [])
    if (plugin.origin !== "bundled") versions[plugin.id] = plugin.version;
  return versions;
}

function versionOf(spec) {
  const at = spec.lastIndexOf("@");
  return at > 0 ? spec.slice(at + 1) : undefined;
}

/** `npm pack` names a tarball `<scope>-<name>-<version>.tgz`. */
function bakedArchive(spec) {
  const dir = process.env.OPENCLAW_SEED_PLUGIN_ARCHIVES;
  if (!dir) return undefined;
  const at = spec.lastIndexOf("@");
  const file = path.join(dir, `${spec.slice(0, at).replace(/^@/, "").replace("/", "-")}-${spec.slice(at + 1)}.tgz`);
  return fs.existsSync(file) ? file : undefined;
}

// ---- Upgrades, before anything reads the state (docs/operations.md, "Upgrades") ----
// Restore (a rolled-back upgrade): OPENCLAW_RESTORE_SNAPSHOT names the share snapshot taken before
// the upgrade, mounted read-only at OPENCLAW_RESTORE_FROM; the state dir becomes its content, once
// per snapshot (`.shire/restored` lists the snapshots restored), so a later restart of this
// revision does not undo what happened since.
// Migrate: when this image's OpenClaw version differs from the one that last ran on the state
// (`.shire/openclaw-version`), run `openclaw doctor --fix --non-interactive` once before the
// gateway starts: the gateway alone does not migrate every release's state (openclaw-facts §3,
// #150797, #152744). A failed migration fails the revision (exit 1): the upgrade's health gate
// sees it and rolls back.
const stateDir = process.env.OPENCLAW_STATE_DIR || path.dirname(target);
const markerDir = path.join(stateDir, ".shire");

function restoreFromSnapshot() {
  const snapshot = process.env.OPENCLAW_RESTORE_SNAPSHOT;
  const from = process.env.OPENCLAW_RESTORE_FROM;
  if (!snapshot || !from) return;
  const restoredFile = path.join(markerDir, "restored");
  const restored = fs.existsSync(restoredFile) ? fs.readFileSync(restoredFile, "utf8").split("\n").filter(Boolean) : [];
  if (restored.includes(snapshot)) {
    console.log(`seed-config: snapshot ${snapshot} restored before; keeping the state`);
    return;
  }
  if (!fs.existsSync(from)) throw new Error(`seed-config: snapshot ${snapshot} is not mounted at ${from}`);
  for (const entry of fs.readdirSync(stateDir)) {
    if (entry === ".shire") continue;
    fs.rmSync(path.join(stateDir, entry), { recursive: true, force: true });
  }
  for (const entry of fs.readdirSync(from)) {
    if (entry === ".shire") continue;
    fs.cpSync(path.join(from, entry), path.join(stateDir, entry), { recursive: true, verbatimSymlinks: true });
  }
  fs.mkdirSync(markerDir, { recursive: true });
  const version = path.join(from, ".shire", "openclaw-version");
  if (fs.existsSync(version)) fs.copyFileSync(version, path.join(markerDir, "openclaw-version"));
  else fs.rmSync(path.join(markerDir, "openclaw-version"), { force: true });
  fs.writeFileSync(restoredFile, [...restored, snapshot].join("\n") + "\n");
  console.log(`seed-config: restored the state from snapshot ${snapshot}`);
}

function openclawVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(path.dirname(entry), "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

function migrateOnVersionChange() {
  const version = openclawVersion();
  if (!version) return;
  const versionFile = path.join(markerDir, "openclaw-version");
  const previous = fs.existsSync(versionFile) ? fs.readFileSync(versionFile, "utf8").trim() : undefined;
  if (previous === version) return;
  // A new state has nothing to migrate; one from before this marker existed may (run doctor).
  if (previous !== undefined || fs.existsSync(target)) {
    console.log(`seed-config: OpenClaw ${previous ?? "(unknown)"} -> ${version}: openclaw doctor --fix`);
    const result = openclaw(["doctor", "--fix", "--non-interactive", "--no-workspace-suggestions"]);
    process.stdout.write(result.stdout || "");
    process.stderr.write(result.stderr || "");
    if (result.status !== 0) {
      console.error(`seed-config: openclaw doctor --fix failed (exit ${result.status ?? result.signal})`);
      process.exit(1);
    }
  }
  fs.mkdirSync(markerDir, { recursive: true });
  fs.writeFileSync(versionFile, `${version}\n`);
}

restoreFromSnapshot();
migrateOnVersionChange();

const current = readConfig();
const installed = plugins.length > 0 ? installedPlugins() : {};
const pending = plugins.filter((plugin) => installed[plugin.id] !== versionOf(plugin.spec));
writeConfig(
  disable(
    merge(
      current,
      withoutWiring(
        seed,
        pending.filter((plugin) => installed[plugin.id] === undefined).map((plugin) => plugin.id),
      ),
    ),
  ),
);
console.log(`seed-config: ${Object.keys(current).length ? "updated" : "wrote"} ${target}`);
for (const plugin of plugins) if (!pending.includes(plugin)) console.log(`seed-config: plugin ${plugin.spec} present`);

for (const plugin of pending) {
  const archive = bakedArchive(plugin.spec);
  // A baked tarball is a local source (OpenClaw asks for --force to trust it); npm specs are pinned.
  const args = archive
    ? ["plugins", "install", `npm-pack:${archive}`, "--force"]
    : installed[plugin.id]
      ? ["plugins", "update", plugin.spec]
      : ["plugins", "install", plugin.spec, "--pin"];
  console.log(
    `seed-config: ${installed[plugin.id] ? `replacing ${plugin.id}@${installed[plugin.id]} with` : "installing plugin"} ${plugin.spec}${archive ? " (baked)" : ""}`,
  );
  const result = openclaw(args);
  process.stdout.write(result.stdout || "");
  process.stderr.write(result.stderr || "");
  const now = result.status === 0 ? installedPlugins()[plugin.id] : undefined;
  // A channel without its plugin silently never answers: fail the revision instead, visibly.
  if (now !== versionOf(plugin.spec)) {
    console.error(
      `seed-config: installing ${plugin.spec} failed (exit ${result.status ?? result.signal}; installed: ${now ?? "none"})`,
    );
    process.exit(1);
  }
}
if (pending.length > 0) {
  // Now that every plugin is there, its channel wiring goes in.
  writeConfig(disable(merge(readConfig(), seed)));
  console.log(`seed-config: wired ${pending.map((plugin) => plugin.id).join(", ")}`);
}
