#!/usr/bin/env bash
# The demo stack on this machine, no Docker: Keycloak (scripts/keycloak.sh) with the keyward-demo
# realm, a private Redis, the demo API (demo/api.mjs), and one keyward serving two apps, App A on
# http://app-a.localhost:3000 and App B on http://app-b.localhost:3000, with the pages in demo/public
# (a web app on each, and a simulated mobile app). Ctrl-C stops what this script started: keyward, the
# demo API and the demo's Redis (its AOF file keeps the sessions for the next start); Keycloak keeps
# running for the next start (npm run keycloak stop).
#   PORT (3000), DEMO_API_PORT (3001), DEMO_REDIS_PORT (6390), KEYWARD_DEMO_DIR (~/.cache/keyward/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${KEYWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyward}
demo_dir=${KEYWARD_DEMO_DIR:-$cache/demo}
port=${PORT:-3000}
api_port=${DEMO_API_PORT:-3001}
redis_port=${DEMO_REDIS_PORT:-6390}
realm=keyward-demo
mkdir -p "$demo_dir"

[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-redis.sh
keycloak_url=$(KEYCLOAK_REALM=$realm bash scripts/keycloak.sh start)

pids=()
started_redis=0
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
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

# The two apps of demo/apps.json (docker-compose's too): two host names, so two sites with a cookie
# each, and a handoff either way. Here on this port, and Keycloak reaches the back-channel logout
# route at 127.0.0.1 (no JVM resolves app-a.localhost) rather than at compose's service name.
app_a=http://app-a.localhost:$port
app_b=http://app-b.localhost:$port
sed -e "s|http://keyward:3000/|http://127.0.0.1:$port/|g" -e "s|\.localhost:3000|.localhost:$port|g" \
  demo/apps.json > "$demo_dir/apps.json"
export KEYCLOAK_URL="$keycloak_url" KEYCLOAK_REALM=$realm KEYWARD_CONFIG="$demo_dir/apps.json" \
  DEMO_APP_A_SECRET=demo-app-a-secret DEMO_APP_B_SECRET=demo-app-b-secret DEV_ALLOW_HTTP=true \
  HOST=127.0.0.1 PORT=$port STATIC_DIR=demo/public \
  UPSTREAMS="{\"demo\":\"http://127.0.0.1:$api_port\",\"gold\":{\"url\":\"http://127.0.0.1:$api_port\",\"requireAcr\":\"gold\"},\"live\":{\"url\":\"http://127.0.0.1:$api_port\",\"websocket\":true}}" \
  KEYCLOAK_ACR_LEVELS='{"silver":1,"gold":2}' APPS_INDEX_HOST=localhost:$port \
  LOG_LEVEL=${LOG_LEVEL:-info}

npm run build --silent
# keyward's own setup command points the realm's clients at this port (back-channel logout URL),
# then its doctor checks the realm against the configuration above.
KEYCLOAK_ADMIN_USER=admin KEYCLOAK_ADMIN_PASSWORD=admin node dist/setup/cli.js setup

DEMO_API_PORT=$api_port DEMO_ISSUER="$keycloak_url/realms/$realm" node demo/api.mjs &
pids+=($!)
node dist/server/main.js &
pids+=($!)
cat <<MSG

  keyward demo
    App A:                 $app_a
    App B:                 $app_b   (App A hands you over without a login)
    (http://localhost:$port links both)
    a simulated mobile app: $app_a/mobile.html
  log in as alice / alice-password (or bob / bob-password)
  access tokens live 30 s in this realm, so you see keyward refresh them
  Keycloak admin console: $keycloak_url/admin (admin / admin), realm $realm
  Ctrl-C stops keyward, the demo API and the demo's Redis; Keycloak keeps running.

MSG
wait -n "${pids[@]}"
