#!/usr/bin/env bash
# The demo stack on this machine, no Docker: Keycloak (scripts/keycloak.sh), Redis, keyward and the
# demo pages in demo/, at http://localhost:3000. Ctrl-C stops keyward; Keycloak and the demo Redis
# keep running for the next start (scripts/keycloak.sh stop; redis-cli -p 6390 shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${KEYWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyward}
mkdir -p "$cache/demo"

[ -d node_modules ] || npm ci
bash scripts/ensure-redis.sh
keycloak_url=$(bash scripts/keycloak.sh start)

if [ -z "${REDIS_URL:-}" ]; then
  # A private Redis with AOF, so sessions survive restarts of the demo.
  if ! redis-cli -p 6390 ping >/dev/null 2>&1; then
    redis-server --port 6390 --bind 127.0.0.1 --daemonize yes --dir "$cache/demo" --appendonly yes \
      --save '' --logfile "$cache/demo/redis.log" --pidfile "$cache/demo/redis.pid"
  fi
  export REDIS_URL=redis://127.0.0.1:6390
fi

# Secrets made once per machine and kept, so a restart does not log anyone out.
if [ ! -f "$cache/demo/secrets.env" ]; then
  umask 077
  {
    echo "SESSION_SECRET=$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")"
    echo "TOKEN_ENCRYPTION_KEYS=k1:$(node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")"
  } > "$cache/demo/secrets.env"
fi
set -a
# shellcheck disable=SC1091
. "$cache/demo/secrets.env"
set +a

npm run build --silent
export PUBLIC_URL=http://localhost:3000 PORT=3000 HOST=127.0.0.1 KEYCLOAK_URL="$keycloak_url" KEYCLOAK_REALM=keyward \
  OIDC_CLIENT_ID=keyward-web OIDC_CLIENT_SECRET=keyward-web-dev-secret DEV_ALLOW_HTTP=true STATIC_DIR=demo \
  UPSTREAMS="{\"keycloak\":\"$keycloak_url/realms/keyward/protocol/openid-connect\"}" \
  LOG_LEVEL=${LOG_LEVEL:-info}
cat <<MSG

  keyward demo: http://localhost:3000
  log in as alice / alice-password (or bob / bob-password)
  Keycloak admin console: $keycloak_url/admin (admin / admin)

MSG
exec node dist/main.js
