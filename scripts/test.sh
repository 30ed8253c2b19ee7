#!/usr/bin/env bash
# The test command: Rust tests (optimized test profile) then vitest. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llmplayer/target}"
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo test"
cargo test --workspace
echo "== typecheck"
npx tsc --noEmit -p .
echo "== vitest"
npx vitest run
