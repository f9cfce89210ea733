#!/usr/bin/env bash
# Makes sure redis-server is installed: the tests and the demo start private instances of it.
# Nothing to do when REDIS_URL points at an existing Redis.
set -euo pipefail
[ -n "${REDIS_URL:-}" ] && exit 0
command -v redis-server >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing redis-server (Debian package)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
else
  echo "redis-server is needed (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), or set REDIS_URL" >&2
  exit 1
fi
