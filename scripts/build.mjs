#!/usr/bin/env node
/**
 * `node scripts/build.mjs [--if-changed]`: tsc -p tsconfig.json, in the current directory.
 *
 * Every build records what it was built from in dist/.build-stamp.json: each input's size, mtime
 * and ctime. The inputs are the files under the directories tsconfig's "include" names (sources,
 * and JSON they may import; not what .gitignore names) plus tsconfig.json, package.json and
 * package-lock.json. With
 * --if-changed, tsc runs only when an input was changed, added or removed (ctime catches a
 * file put back with an old mtime) or an output is missing; so `npm start` on an unchanged tree
 * starts at once. A failed tsc leaves no stamp, so the next run builds again.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const ROOT_FILES = ["tsconfig.json", "package.json", "package-lock.json"];
const INPUT = /\.(?:[cm]?[jt]sx?|json)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", ".git"]);
/** Paths .gitignore names literally (bench/results/, .shire/): generated, never a source. */
const IGNORED = new Set(
  (fs.existsSync(".gitignore") ? fs.readFileSync(".gitignore", "utf8").split("\n") : [])
    .map((line) => line.trim().replace(/^\/|\/$/g, ""))
    .filter((line) => line && !line.startsWith("#") && !/[*?[!]/.test(line)),
);

/** tsconfig.json's include patterns and outDir, or undefined when it is not plain JSON (comments). */
function readTsconfig() {
  try {
    const tsconfig = JSON.parse(fs.readFileSync("tsconfig.json", "utf8"));
    return {
      include: tsconfig.include ?? ["**/*"],
      outDir: tsconfig.compilerOptions?.outDir ?? ".",
      rootDir: tsconfig.compilerOptions?.rootDir ?? ".",
    };
  } catch {
    return undefined;
  }
}

/** "src/**\/*.ts" -> "src": the part of each include pattern before its first wildcard. */
function includeRoots(patterns) {
  const wild = (segment) => /[*?{[]/.test(segment);
  return [
    ...new Set(
      patterns.map((pattern) => {
        const segments = pattern.split("/");
        const first = segments.findIndex(wild);
        if (first < 0) return pattern;
        return first === 0 ? "." : segments.slice(0, first).join("/");
      }),
    ),
  ];
}

function walk(entry, inputs) {
  let stat;
  try {
    stat = fs.statSync(entry);
  } catch {
    return;
  }
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(entry).sort()) {
      const child = entry === "." ? name : path.join(entry, name);
      if (SKIP_DIRS.has(name) || IGNORED.has(child.split(path.sep).join("/"))) continue;
      walk(child, inputs);
    }
  } else if (INPUT.test(entry) || ROOT_FILES.includes(entry)) {
    inputs[entry] = `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  }
}

function currentInputs(roots) {
  const inputs = {};
  for (const file of ROOT_FILES) walk(file, inputs);
  for (const root of roots) walk(root, inputs);
  return inputs;
}

/** Where tsc writes the JavaScript for a source file (none for declarations and plain JS/JSON). */
function outputOf(file, config) {
  if (!/\.[cm]?tsx?$/.test(file) || /\.d\.[cm]?tsx?$/.test(file)) return undefined;
  const js = file
    .replace(/\.tsx?$/, ".js")
    .replace(/\.mts$/, ".mjs")
    .replace(/\.cts$/, ".cjs");
  return path.join(config.outDir, path.relative(config.rootDir, js));
}

/** Why a build is needed, or undefined when the last one still stands. */
function staleness(stampFile, inputs) {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile, "utf8"));
  } catch {
    return "no build stamp";
  }
  const reasons = [
    ...Object.keys(inputs)
      .filter((file) => stamp.inputs[file] !== inputs[file])
      .map((file) => `${file} ${file in stamp.inputs ? "changed" : "added"}`),
    ...Object.keys(stamp.inputs)
      .filter((file) => !(file in inputs))
      .map((file) => `${file} removed`),
    ...stamp.outputs.filter((file) => !fs.existsSync(file)).map((file) => `${file} missing`),
  ];
  if (reasons.length === 0) return undefined;
  return reasons.length > 3 ? `${reasons.slice(0, 3).join(", ")} and ${reasons.length - 3} more` : reasons.join(", ");
}

const ifChanged = process.argv.includes("--if-changed");
const config = readTsconfig();
const stampFile = path.join(config?.outDir ?? "dist", ".build-stamp.json");
const inputs = config ? currentInputs(includeRoots(config.include)) : undefined;
if (ifChanged) {
  const reason = inputs ? staleness(stampFile, inputs) : "tsconfig.json is not plain JSON";
  if (reason === undefined) {
    console.log(`build: up to date (${Object.keys(inputs).length} inputs unchanged since the last build), tsc skipped`);
    process.exit(0);
  }
  console.log(`build: ${reason}: running tsc`);
}

fs.rmSync(stampFile, { force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { stdio: "inherit" });
if (result.status !== 0) process.exit(result.status ?? 1);
if (inputs) {
  const outputs = Object.keys(inputs)
    .map((file) => outputOf(file, config))
    .filter((file) => file !== undefined && fs.existsSync(file));
  fs.mkdirSync(path.dirname(stampFile), { recursive: true });
  fs.writeFileSync(stampFile, `${JSON.stringify({ inputs, outputs }, null, 1)}\n`);
}
