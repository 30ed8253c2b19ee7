#!/usr/bin/env bash
# Builds the WebAssembly SIMD module into wasm/ (wasm-bindgen, --target web).
#
# Two toolchains are supported:
#  - rustup with the wasm32-unknown-unknown target installed (the usual machine);
#  - Debian's rustc-web/cargo-web + rust-web-src (std rebuilt with -Zbuild-std), for machines
#    whose rustup cannot fetch targets.
# wasm-bindgen-cli must match the wasm-bindgen crate version (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_ROOT="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$TARGET_ROOT/wasm"
FLAGS="-Ctarget-feature=+simd128"
# wasm-bindgen reads the target_features section: keep it (no cargo strip for wasm).
export CARGO_PROFILE_RELEASE_STRIP=false
PROFILE="${WASM_PROFILE:-release}"

if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  RUSTFLAGS="$FLAGS" cargo build -p llmplayer-wasm --target wasm32-unknown-unknown --profile "$PROFILE"
elif [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && command -v wasm-ld-19 >/dev/null; then
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="$FLAGS -Clinker=wasm-ld-19" \
    /usr/bin/cargo build -p llmplayer-wasm --target wasm32-unknown-unknown --profile "$PROFILE" \
    -Zbuild-std=std,panic_abort
else
  echo "build-wasm: no wasm32 toolchain (rustup target or Debian rustc-web + lld-19); run scripts/setup.sh" >&2
  exit 1
fi

WASM="$CARGO_TARGET_DIR/wasm32-unknown-unknown/$PROFILE/llmplayer_wasm.wasm"
mkdir -p wasm
wasm-bindgen "$WASM" --out-dir wasm --target web --omit-default-module-path
# wasm-opt is deliberately not run: Debian's binaryen (v108) rewrites wasm-bindgen's externref
# table into a funcref one and breaks error returns; LLVM's -O3 output is already optimized.
echo "build-wasm: wrote wasm/llmplayer_wasm.js and wasm/llmplayer_wasm_bg.wasm ($(stat -c %s wasm/llmplayer_wasm_bg.wasm) bytes)"

# Test-only module (not in the npm package; wasm-check/ is gitignored): llmplayer-core's quant
# self-checks (quant::check) compiled with the same toolchain and +simd128, run under Node by
# test/quant-wasm.test.ts. Plain extern "C" exports, so no wasm-bindgen step.
if rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  RUSTFLAGS="$FLAGS" cargo build -p llmplayer-wasm-check --target wasm32-unknown-unknown --profile "$PROFILE"
else
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="$FLAGS -Clinker=wasm-ld-19" \
    /usr/bin/cargo build -p llmplayer-wasm-check --target wasm32-unknown-unknown --profile "$PROFILE" \
    -Zbuild-std=std,panic_abort
fi
mkdir -p wasm-check
cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$PROFILE/llmplayer_wasm_check.wasm" wasm-check/
echo "build-wasm: wrote wasm-check/llmplayer_wasm_check.wasm ($(stat -c %s wasm-check/llmplayer_wasm_check.wasm) bytes, test-only)"
