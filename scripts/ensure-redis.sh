#!/usr/bin/env bash
# Makes sure redis-server is installed: the tests and the demo start private instances of it.
# The demo needs nothing when REDIS_URL points at an existing Redis; with --tests, redis-server and
# openssl are needed whatever REDIS_URL says: the Sentinel, Cluster and TLS suites start their own
# servers, and make a test CA.
set -euo pipefail
tests=0
[ "${1:-}" = --tests ] && tests=1
[ "$tests" = 0 ] && [ -n "${REDIS_URL:-}" ] && exit 0
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ "$tests" = 1 ] && ! command -v openssl >/dev/null && missing+=(openssl)
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "needed: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]}; macOS: brew install redis openssl), or set REDIS_URL for the demo" >&2
  exit 1
fi
