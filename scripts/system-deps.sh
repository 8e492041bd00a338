#!/usr/bin/env bash
# Debian packages the test suite needs: chromium (browser tests, driven by Playwright's
# Python package, never `playwright install`), knxd (a real KNX peer), pebble (the ACME
# server of the cloud-name certificate tests) and libnss3-tools (certutil: chromium's trust
# of pebble's root). Idempotent; only
# installs what is missing, and only as root.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v knxd >/dev/null || need+=(knxd)
command -v knxtool >/dev/null || need+=(knxd-tools)
command -v pebble >/dev/null || need+=(pebble)
command -v certutil >/dev/null || need+=(libnss3-tools)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: missing ${need[*]}; the tests that need them will be skipped" >&2
  exit 0
fi
echo "== apt-get install ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" fonts-dejavu-core >/dev/null
