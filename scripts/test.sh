#!/usr/bin/env bash
# The test command (npm test): type-check, then every suite against a real Keycloak and a real Redis,
# then, on their own, the suites in test/serial that stop and start Keycloak itself.
# Arguments go to jest, e.g. `npm test -- test/e2e/login-logout.test.ts` (then no serial run).
# KEYCLOAK_URL / REDIS_URL use existing servers; KEYWARD_KEEP_KEYCLOAK=1 leaves Keycloak running;
# KEYWARD_TEST_REPORT_DIR=dir writes jest's JSON reports there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
bash scripts/ensure-redis.sh --tests
bash scripts/ensure-chromium.sh
bash scripts/ensure-proxies.sh
echo "node $(node --version)"
npx tsc --noEmit

report() { [ -n "${KEYWARD_TEST_REPORT_DIR:-}" ] && echo "--json --outputFile=$KEYWARD_TEST_REPORT_DIR/$1.json" || true; }
# shellcheck disable=SC2046
npx jest $(report parallel) "$@"
if [ $# -eq 0 ]; then
  # shellcheck disable=SC2046
  KEYWARD_SERIAL=1 npx jest --runInBand $(report serial) test/serial
fi
