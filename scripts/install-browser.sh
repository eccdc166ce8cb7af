#!/usr/bin/env bash
# Debian's Chromium for the browser tests (no browser can be downloaded here).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
