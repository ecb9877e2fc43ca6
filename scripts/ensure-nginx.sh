#!/usr/bin/env bash
# The sidecar tests run real nginx. `npm test` calls this first, so a fresh machine gets it from
# Debian's packages without a manual step; a machine that has nginx is left alone.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run() { sudo "$@"; }
else
  echo "npm test needs nginx for the sidecar tests and cannot install it without root: run 'sudo apt-get install nginx-light' once." >&2
  exit 1
fi

echo "Installing nginx (Debian package) for the sidecar tests..." >&2
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq nginx-light >/dev/null 2>&1 || run apt-get install -y -qq nginx >/dev/null
# The distro's service is not ours (tests start their own nginx on loopback ports); it may not be running at all.
run service nginx stop >/dev/null 2>&1 || true
