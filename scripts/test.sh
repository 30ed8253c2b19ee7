#!/usr/bin/env bash
# The test command: Rust tests (optimized test profile) then vitest. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llmplayer/target}"
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo test"
cargo test --workspace
# Most x86 CPUs lack AVX-512 VNNI: on one that has it, check the kernels and the engine again
# with the AVX2 selection (the binaries are the same; the choice is made at run time).
if grep -q avx512_vnni /proc/cpuinfo 2>/dev/null; then
  echo "== cargo test (LLMPLAYER_X86=avx2)"
  LLMPLAYER_X86=avx2 cargo test -p llmplayer-core --test quants --test models --lib
fi
echo "== typecheck"
npx tsc --noEmit -p .
echo "== vitest"
npx vitest run
