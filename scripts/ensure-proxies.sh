#!/usr/bin/env bash
# Makes sure Debian's nginx and Caddy are installed: the forward-auth suite runs the configurations in
# examples/forward-auth/ on both. Installed without starting their services (which would take port 80).
set -euo pipefail
command -v nginx >/dev/null && command -v caddy >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing nginx and caddy (Debian packages)" >&2
  apt-get update -qq
  # policy-rc.d answering 101 tells the packages' scripts not to start their services.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx caddy >/dev/null
  [ "$had_policy" = 1 ] || rm -f "$policy"
else
  echo "nginx and caddy are needed for the forward-auth suite (Debian/Ubuntu: sudo apt-get install nginx caddy)" >&2
  exit 1
fi
