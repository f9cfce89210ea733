#!/usr/bin/env bash
# The demo stack on this machine, no Docker: Keycloak (scripts/keycloak.sh), Redis, keyward and the
# demo pages in demo/, at http://localhost:3000. Ctrl-C stops keyward and the demo's Redis (its AOF
# file keeps the sessions for the next start); Keycloak keeps running for the next start
# (npm run keycloak stop).
#   PORT (3000), DEMO_REDIS_PORT (6390), KEYWARD_DEMO_DIR (~/.cache/keyward/demo): where things go.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${KEYWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyward}
demo_dir=${KEYWARD_DEMO_DIR:-$cache/demo}
port=${PORT:-3000}
redis_port=${DEMO_REDIS_PORT:-6390}
mkdir -p "$demo_dir"

[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-redis.sh
keycloak_url=$(bash scripts/keycloak.sh start)

keyward_pid=
started_redis=0
stop_all() {
  if [ -n "$keyward_pid" ]; then
    kill -TERM "$keyward_pid" 2>/dev/null || true
    wait "$keyward_pid" 2>/dev/null || true
  fi
  if [ "$started_redis" = 1 ]; then redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true; fi
  echo "demo stopped; Keycloak still runs on $keycloak_url for the next start (npm run keycloak stop)" >&2
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if [ -z "${REDIS_URL:-}" ]; then
  # A private Redis with AOF, so sessions survive restarts of the demo.
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --dir "$demo_dir" --appendonly yes \
      --save '' --logfile "$demo_dir/redis.log" --pidfile "$demo_dir/redis.pid"
    started_redis=1
  fi
  export REDIS_URL=redis://127.0.0.1:$redis_port
fi

# Secrets made once per machine and kept, so a restart does not log anyone out.
if [ ! -f "$demo_dir/secrets.env" ]; then
  (
    umask 077
    echo "SESSION_SECRET=$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")"
    echo "TOKEN_ENCRYPTION_KEYS=k1:$(node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")"
  ) > "$demo_dir/secrets.env"
fi
set -a
# shellcheck disable=SC1091
. "$demo_dir/secrets.env"
set +a

npm run build --silent
export PUBLIC_URL=http://localhost:$port PORT=$port HOST=127.0.0.1 KEYCLOAK_URL="$keycloak_url" KEYCLOAK_REALM=keyward \
  OIDC_CLIENT_ID=keyward-web OIDC_CLIENT_SECRET=keyward-web-dev-secret DEV_ALLOW_HTTP=true STATIC_DIR=demo \
  UPSTREAMS="{\"keycloak\":\"$keycloak_url/realms/keyward/protocol/openid-connect\"}" \
  LOG_LEVEL=${LOG_LEVEL:-info}
node dist/main.js &
keyward_pid=$!
cat <<MSG

  keyward demo: http://localhost:$port
  log in as alice / alice-password (or bob / bob-password)
  Keycloak admin console: $keycloak_url/admin (admin / admin)
  Ctrl-C stops keyward and the demo's Redis; Keycloak keeps running.

MSG
wait "$keyward_pid"
