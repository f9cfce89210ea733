#!/usr/bin/env bash
# The test command (npm test): type-check, then every suite against a real Keycloak and a real Redis.
# Arguments go to jest, e.g. `npm test -- test/e2e/login-logout.test.ts`.
# KEYCLOAK_URL / REDIS_URL use existing servers; KEYWARD_KEEP_KEYCLOAK=1 leaves Keycloak running.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
bash scripts/ensure-redis.sh
echo "node $(node --version)"
npx tsc --noEmit
npx jest "$@"
