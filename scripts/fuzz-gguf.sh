#!/usr/bin/env bash
# Fuzzes the GGUF reader (cargo-fuzz target `gguf_parse` in crates/llmplayer-core/fuzz) for a
# bounded time. Not part of CI.
#
#   scripts/fuzz-gguf.sh [SECONDS] [libFuzzer flags...]     (or FUZZ_SECONDS=N; default 60)
#
# Installs cargo-fuzz if it is missing, seeds the corpus with the fixture .gguf files (whole
# files up to FUZZ_SEED_MAX bytes, the first FUZZ_SEED_PREFIX bytes of larger ones) and the
# valid files built by tests/gguf_hostile.rs, then runs libFuzzer. Uses the stable toolchain
# with RUSTC_BOOTSTRAP=1 for the sanitizer flags. Crashes land in
# crates/llmplayer-core/fuzz/artifacts/gguf_parse/; reproduce one with
#   (cd crates/llmplayer-core/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run gguf_parse <file>)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

RUN_SECONDS="${1:-${FUZZ_SECONDS:-60}}"
[ $# -gt 0 ] && shift
FUZZ_DIR=crates/llmplayer-core/fuzz
CORPUS="$ROOT/$FUZZ_DIR/corpus/gguf_parse"
FIXTURES="${LLMPLAYER_FIXTURES:-$ROOT/../shared/fixtures}"
SEED_MAX="${FUZZ_SEED_MAX:-262144}"
SEED_PREFIX="${FUZZ_SEED_PREFIX:-65536}"
# Its own target dir: the sanitizer flags would otherwise rebuild the normal test build.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/$FUZZ_DIR/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz
fi

echo "== seeding $CORPUS"
mkdir -p "$CORPUS"
if [ -d "$FIXTURES" ]; then
    n=0
    while IFS= read -r -d '' f; do
        rel="${f#"$FIXTURES"/}"
        seed="$CORPUS/fixture-${rel//\//_}"
        if [ "$(stat -c %s "$f")" -le "$SEED_MAX" ]; then
            cp "$f" "$seed"
        else
            head -c "$SEED_PREFIX" "$f" >"$seed"
        fi
        n=$((n + 1))
    done < <(find "$FIXTURES" -mindepth 2 -maxdepth 2 -name '*.gguf' -print0 | sort -z)
    echo "$n fixture seeds from $FIXTURES"
else
    echo "no fixtures at $FIXTURES (set LLMPLAYER_FIXTURES): synthetic seeds only"
fi
if LLMPLAYER_FUZZ_SEEDS="$CORPUS" cargo test -q -p llmplayer-core --test gguf_hostile write_fuzz_seeds >/dev/null; then
    echo "synthetic seeds written by tests/gguf_hostile.rs"
else
    echo "warning: could not write the synthetic seeds" >&2
fi

echo "== fuzzing gguf_parse for ${RUN_SECONDS}s"
cd "$FUZZ_DIR"
RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir "$FUZZ_TARGET_DIR" gguf_parse "$CORPUS" -- \
    -max_total_time="$RUN_SECONDS" -print_final_stats=1 "$@"
