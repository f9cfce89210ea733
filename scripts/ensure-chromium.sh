#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed: the browser suites drive it through playwright-core,
# which never downloads a browser. KEYWARD_CHROMIUM names another binary instead.
set -euo pipefail
[ -x "${KEYWARD_CHROMIUM:-/usr/bin/chromium}" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (Debian packages)" >&2
  apt-get update -qq
  # fonts-liberation: the fonts Chromium recommends, so screenshots look the same everywhere.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
else
  echo "Chromium is needed for the browser suites (Debian/Ubuntu: sudo apt-get install chromium), or set KEYWARD_CHROMIUM" >&2
  exit 1
fi
