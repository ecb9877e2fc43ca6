#!/usr/bin/env bash
# Installs the real OpenClaw gateway (the version of Shire's default image) for the container
# contract test. OpenClaw needs Node 24; like the project's Node 22, it comes from the npm registry
# (the `node@24` package). The install lives outside the repository: npm puts every ancestor's
# node_modules/.bin on PATH for install scripts, and the project's Node 22 would shadow Node 24.
# Idempotent: skips what is already there. Prints the install directory on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(node -e 'const m=require("fs").readFileSync("src/model/spec.ts","utf8").match(/DEFAULT_OPENCLAW_VERSION = "([^"]+)"/); process.stdout.write(m[1])')"
dir="${SHIRE_OPENCLAW_DIR:-$HOME/.cache/shire-openclaw}"
mkdir -p "$dir"
if [ ! -x "$dir/node24/node_modules/.bin/node" ]; then
  # allowScripts: npm 12 runs a dependency's install scripts only where package.json allows them,
  # and node@24 (like the project's node@22) unpacks its binary in one.
  (cd "$dir" && mkdir -p node24 && cd node24 && npm init -y >/dev/null && npm pkg set allowScripts.node=true --json && npm install --no-audit --no-fund node@24 >/dev/null)
fi
node24_bin="$(cd "$dir/node24/node_modules/.bin" && pwd)"
if [ ! -f "$dir/app/node_modules/openclaw/package.json" ] || [ "$(node -p "require('$dir/app/node_modules/openclaw/package.json').version")" != "$version" ]; then
  mkdir -p "$dir/app"
  (cd "$dir/app" && [ -f package.json ] || npm init -y >/dev/null)
  # The scripts OpenClaw's own install runs (its bundled plugins, koffi's native build, protobufjs).
  (cd "$dir/app" && for pkg in openclaw koffi protobufjs @google/genai; do npm pkg set "allowScripts.$pkg=true" --json; done)
  # openclaw's install script checks the node on PATH: Node 24 first.
  (cd "$dir/app" && PATH="$node24_bin:$PATH" npm install --no-audit --no-fund "openclaw@$version" >/dev/null)
fi
# The release before it, beside it (app-<version>): the upgrade test migrates its state to this one.
previous="2026.9.5"
if [ ! -f "$dir/app-$previous/node_modules/openclaw/package.json" ]; then
  mkdir -p "$dir/app-$previous"
  (cd "$dir/app-$previous" && [ -f package.json ] || npm init -y >/dev/null)
  (cd "$dir/app-$previous" && for pkg in openclaw koffi protobufjs @google/genai; do npm pkg set "allowScripts.$pkg=true" --json; done)
  (cd "$dir/app-$previous" && PATH="$node24_bin:$PATH" npm install --no-audit --no-fund "openclaw@$previous" >/dev/null)
fi
echo "openclaw $version ready (node $("$node24_bin/node" -v)), and $previous beside it"
echo "$dir"
