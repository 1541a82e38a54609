#!/usr/bin/env bash
# Make sure Debian's clang and lld are available, so that test/wasm-build.test.ts can rebuild the wasm
# routing kernels and compare them with the committed ones. Installs them with apt-get when missing;
# when that is impossible it prints why and exits 0 (the test then says it skipped the comparison).
set -u
if command -v clang >/dev/null 2>&1 && command -v wasm-ld >/dev/null 2>&1; then
  echo "ensure-clang: found $(clang --version | head -n 1)"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-clang: clang/lld missing and this user cannot run apt-get; the wasm rebuild test will skip"; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-clang: clang/lld missing and apt-get is not available; the wasm rebuild test will skip"; exit 0
fi
echo "ensure-clang: installing clang and lld with apt-get"
if ! $SUDO apt-get update -q >/dev/null; then
  echo "ensure-clang: apt-get update failed; the wasm rebuild test will skip"; exit 0
fi
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends clang lld >/dev/null; then
  echo "ensure-clang: apt-get install clang lld failed; the wasm rebuild test will skip"; exit 0
fi
echo "ensure-clang: installed $(clang --version | head -n 1)"
