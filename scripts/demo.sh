#!/usr/bin/env bash
# Set everything up, then run the demo server (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/domogate demo "$@"
