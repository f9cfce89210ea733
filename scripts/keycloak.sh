#!/usr/bin/env bash
# The Keycloak that the tests and the demo run against, without Docker.
#
#   scripts/keycloak.sh fetch    download keycloak-quarkus-dist through Maven and unpack it into the cache
#   scripts/keycloak.sh start    start it (or reuse the instance this script started) and wait until ready
#   scripts/keycloak.sh stop     stop the instance this script started; never anything else
#   scripts/keycloak.sh status   say whether it runs, and where
#   scripts/keycloak.sh pid      print the process group id of the instance this script started
#   scripts/keycloak.sh trusted  print the folder of the certificate (cert.pem, key.pem; 127.0.0.1) that
#                                Keycloak trusts for its outgoing https calls: a test serves keyward's
#                                back-channel logout or JWKS over https with it
#
# KEYCLOAK_PORT/KEYCLOAK_MANAGEMENT_PORT run another instance beside the usual one (its own install and
# database); KEYCLOAK_FEATURES turns on features, e.g. token-exchange,admin-fine-grained-authz:v1.
# KEYCLOAK_STOP_SECONDS (30): how long `stop` lets Keycloak shut down gracefully before it kills it.
#
# With KEYCLOAK_URL set, fetch/start/stop do nothing but wait for that external server's realm.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
version=${KEYCLOAK_VERSION:-26.7.3} # newest keycloak-quarkus-dist on Maven Central as of 2026-11 (26.8.x is not there)
port=${KEYCLOAK_PORT:-8180}
mgmt_port=${KEYCLOAK_MANAGEMENT_PORT:-9180}
realm=${KEYCLOAK_REALM:-keyward}
cache=${KEYWARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyward}
dist="$cache/keycloak-$version"
# One install, and so one dev database, per port: another instance (a benchmark on its own port) that
# changes its realm cannot change the one the tests and the demo run against.
home=$dist
[ "$port" = 8180 ] || home="$cache/keycloak-$version-port-$port"
run="$cache/run"
pidfile="$run/keycloak-$port.pid"
log="$run/keycloak-$port.log"
base="http://127.0.0.1:$port"

say() { echo "keycloak: $*" >&2; }

pick_java() {
  local jdk
  for jdk in /usr/lib/jvm/temurin-25*; do
    [ -x "$jdk/bin/java" ] && { echo "$jdk"; return; }
  done
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME"; return; fi
  local java
  java=$(command -v java) || { say "no Java found: install a JDK (17 or newer, 25 preferred)"; exit 1; }
  dirname "$(dirname "$(readlink -f "$java")")"
}

# The realm exports, the features and the trusted certificate: a change starts the instance afresh.
realm_digest() {
  { cat "$root"/keycloak/*-realm.json; echo "${KEYCLOAK_FEATURES:-}"; cat "$trusted/cert.pem"; } | sha256sum | cut -c1-16
}

# A self-signed certificate for 127.0.0.1, made once per cache, in Keycloak's truststore (the system
# one stays trusted too): its outgoing https calls to a test's keyward are then checked as in production.
trusted="$cache/trusted-tls"
make_trusted() {
  [ -s "$trusted/cert.pem" ] && [ -s "$trusted/key.pem" ] && return
  mkdir -p "$trusted"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=keyward-test \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$trusted/key.pem" -out "$trusted/cert.pem" 2>/dev/null
}

fetch() {
  if [ ! -x "$dist/bin/kc.sh" ]; then
    command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch Keycloak"; exit 1; }
    say "fetching org.keycloak:keycloak-quarkus-dist:$version from Maven Central"
    local tmp
    tmp=$(mktemp -d "$cache/fetch.XXXXXX")
    mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:tar.gz" -DoutputDirectory="$tmp" >&2
    tar -xzf "$tmp/keycloak-quarkus-dist-$version.tar.gz" -C "$tmp"
    mv "$tmp/keycloak-$version" "$dist"
    rm -rf "$tmp"
  fi
  if [ ! -x "$home/bin/kc.sh" ]; then
    cp -r "$dist" "$home"
    rm -rf "$home/data"
  fi
}

pid_alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

realm_ready() { curl -fs -o /dev/null --max-time 2 "$1/realms/$realm/.well-known/openid-configuration"; }

wait_ready() {
  local url=$1 deadline=$((SECONDS + ${KEYCLOAK_START_TIMEOUT:-240}))
  until realm_ready "$url"; do
    if [ -z "${KEYCLOAK_URL:-}" ] && ! pid_alive; then
      say "Keycloak exited while starting; last lines of $log:"; tail -n 30 "$log" >&2; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { say "not ready after ${KEYCLOAK_START_TIMEOUT:-240}s (log: $log)"; exit 1; }
    sleep 1
  done
}

stop() {
  [ -n "${KEYCLOAK_URL:-}" ] && return
  if ! pid_alive; then rm -f "$pidfile"; say "nothing to stop on port $port"; return; fi
  local pid
  pid=$(cat "$pidfile")
  # kc.sh was started in its own session, so its process group holds the JVM too.
  kill -TERM -- "-$pid" 2>/dev/null || true
  # A graceful stop writes the sessions Keycloak holds; KEYCLOAK_STOP_SECONDS (30) before it is killed.
  for _ in $(seq 1 $((${KEYCLOAK_STOP_SECONDS:-30} * 2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

start() {
  if [ -n "${KEYCLOAK_URL:-}" ]; then wait_ready "$KEYCLOAK_URL"; echo "$KEYCLOAK_URL"; return; fi
  mkdir -p "$cache" "$run"
  fetch
  local digest
  make_trusted
  digest=$(realm_digest)
  if pid_alive; then
    if [ "$(cat "$home/data/keyward-realm.digest" 2>/dev/null)" = "$digest" ]; then
      wait_ready "$base"; say "reusing the instance on $base"; echo "$base"; return
    fi
    say "realm export changed: restarting with a fresh database"
    stop
  elif curl -fs -o /dev/null --max-time 2 "$base/"; then
    say "port $port is taken by a server this script did not start; set KEYCLOAK_PORT or KEYCLOAK_URL"; exit 1
  fi
  # Realm import skips realms that already exist, so a changed export needs a fresh dev database.
  if [ "$(cat "$home/data/keyward-realm.digest" 2>/dev/null)" != "$digest" ]; then
    rm -rf "$home/data/h2" "$home/data/import"
  fi
  mkdir -p "$home/data/import"
  cp "$root"/keycloak/*-realm.json "$home/data/import/"
  echo "$digest" > "$home/data/keyward-realm.digest"

  local java_home
  java_home=$(pick_java)
  say "starting Keycloak $version on $base with $("$java_home/bin/java" -version 2>&1 | head -n 1)"
  JAVA_HOME="$java_home" \
  KC_BOOTSTRAP_ADMIN_USERNAME=${KEYCLOAK_ADMIN_USER:-admin} \
  KC_BOOTSTRAP_ADMIN_PASSWORD=${KEYCLOAK_ADMIN_PASSWORD:-admin} \
    setsid "$home/bin/kc.sh" start-dev \
      --http-host=127.0.0.1 --http-port="$port" --hostname="$base" \
      --http-management-host=127.0.0.1 --http-management-port="$mgmt_port" \
      --health-enabled=true --import-realm --truststore-paths="$trusted/cert.pem" \
      ${KEYCLOAK_FEATURES:+--features="$KEYCLOAK_FEATURES"} >"$log" 2>&1 </dev/null &
  echo $! > "$pidfile"
  wait_ready "$base"
  say "ready on $base (admin console $base/admin, user ${KEYCLOAK_ADMIN_USER:-admin})"
  echo "$base"
}

status() {
  if [ -n "${KEYCLOAK_URL:-}" ]; then
    realm_ready "$KEYCLOAK_URL" && echo "external $KEYCLOAK_URL: ready" || echo "external $KEYCLOAK_URL: not ready"
  elif pid_alive; then
    realm_ready "$base" && echo "running on $base (pid $(cat "$pidfile"))" || echo "starting on $base (pid $(cat "$pidfile"))"
  else
    echo "not running"; return 1
  fi
}

case "${1:-}" in
  fetch) [ -n "${KEYCLOAK_URL:-}" ] || { mkdir -p "$cache"; fetch; echo "$home"; } ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  pid) pid_alive && cat "$pidfile" ;;
  trusted) mkdir -p "$cache"; make_trusted; echo "$trusted" ;;
  *) echo "usage: $0 fetch|start|stop|status|pid|trusted" >&2; exit 2 ;;
esac
