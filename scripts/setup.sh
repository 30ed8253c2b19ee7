#!/usr/bin/env bash
# One set-up command for a fresh machine of this kind: installs what is missing (Debian
# packages only when absent), npm ci, then the native, WASM and TypeScript builds.
# Idempotent; a second run only rebuilds what changed (build caches live outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llmplayer/target}"
export PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' crates/llmplayer-wasm/Cargo.toml)

step() { printf '\n== %s\n' "$*"; }

# Debian packages: the wasm32 toolchain, unless rustup already has the target.
need=()
if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  need+=(rustc-web cargo-web rust-web-src lld-19)
fi
# Headless Chromium for the chat page tests (test/ui-chat.test.ts drives it with playwright-core).
need+=(chromium)
# An OpenCL runtime on the CPU (PoCL) and the ICD loader, for the OpenCL device tests
# (crates/llmplayer-opencl); util-linux's `script` drives the terminal chat test.
need+=(pocl-opencl-icd ocl-icd-libopencl1 util-linux)

missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

step "native addon (napi build)"
npm run --silent build:native
npx napi create-npm-dirs >/dev/null
npx napi artifacts --output-dir native --npm-dir npm >/dev/null

step "WASM module"
bash scripts/build-wasm.sh

step "TypeScript (tsup)"
npm run --silent build:ts
echo "setup: done"
