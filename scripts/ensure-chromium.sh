#!/usr/bin/env bash
# Make sure headless Chromium (Debian's `chromium` package) is available for the report tests.
# Installs it with apt-get when missing; when that is impossible (no root, no apt, no network) it
# prints why and exits 0, and the browser test then skips with that reason.
set -u
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
  echo "ensure-chromium: using CHROMIUM_PATH=$CHROMIUM_PATH"; exit 0
fi
for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [ -x "$c" ]; then echo "ensure-chromium: found $c"; exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is missing and apt-get is not available; browser tests will be skipped"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-chromium: chromium is missing and this user cannot run apt-get (not root, no passwordless sudo); browser tests will be skipped"; exit 0
  fi
fi
echo "ensure-chromium: installing chromium with apt-get"
if ! $SUDO apt-get update -q; then
  echo "ensure-chromium: apt-get update failed; browser tests will be skipped"; exit 0
fi
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium; then
  echo "ensure-chromium: apt-get install chromium failed; browser tests will be skipped"; exit 0
fi
echo "ensure-chromium: installed $(command -v chromium)"
