#!/usr/bin/env bash
# Set everything up, then run the linters (ruff, mypy, Biome for the web client's JavaScript)
# and the whole test suite (the JavaScript unit tests with node --test, then pytest).
#
# The tests run inside a private network namespace (`unshare -n`, loopback only) when this
# user may create one (root): nothing a test starts can reach the real network, and the
# KNX tests can start knxd there (see tests/knx_real). Elsewhere the suite runs as it is and
# the knxd tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/system-deps.sh
./scripts/js-deps.sh
. .venv/bin/activate
echo "== ruff"; ruff check src tests benchmarks
echo "== mypy"; mypy
echo "== biome"; npx --no-install biome ci src/domogate/web/static tests/js
echo "== node --test"; node --test tests/js/
echo "== pytest"
if [ -z "${DOMOGATE_NO_NETNS:-}" ] && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c '
    ip link set lo up
    ip route add 224.0.0.0/4 dev lo src 127.0.0.1
    export DOMOGATE_PRIVATE_NETNS=1
    exec python -m pytest -q -p no:cacheprovider "$@"' bash "$@"
fi
exec python -m pytest -q -p no:cacheprovider "$@"
