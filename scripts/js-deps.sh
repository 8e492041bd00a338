#!/usr/bin/env bash
# Node.js and npm for the web client's checks (Biome, `node --test`); running the client
# never needs them. Installs Debian's nodejs and npm when npm is missing and this user is
# root (like scripts/system-deps.sh for chromium), then the locked devDependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: node and npm are needed for the web client's checks; install nodejs and npm" >&2
    exit 1
  fi
  echo "== apt-get install nodejs npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error
