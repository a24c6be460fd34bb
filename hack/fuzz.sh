#!/usr/bin/env bash
# Fuzzes the SCIM input parsers (the filter parser, the PATCH engine, POST/PUT body parsing) with
# cargo-fuzz (libFuzzer + AddressSanitizer) on the nightly toolchain.
#
#   hack/fuzz.sh                 every target, FUZZ_SECONDS (default 60) each
#   hack/fuzz.sh patch filter    only these targets
#   hack/fuzz.sh --build         only install cargo-fuzz and build (hack/test.sh does this early,
#                                in the background, so the run later only links)
#
# Fails on any crash, panic, hang (an input taking over FUZZ_TIMEOUT seconds) or allocation
# beyond the limits below; the input that did it is left in fuzz/artifacts/<target>/. New
# interesting inputs are added to fuzz/corpus/<target>/ (commit them after `cargo +nightly fuzz
# cmin <target>` keeps the corpus small).
#
# The build (nightly, ASan, every dependency) is cached outside the repo like the control plane
# (SCIM_OPERATOR_CACHE, default ~/.cache/scim-operator, in fuzz-target/), so only the first run
# builds the dependencies and later runs, from any checkout, rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-60}
TIMEOUT=${FUZZ_TIMEOUT:-10}
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
TARGET_DIR=${FUZZ_TARGET_DIR:-$CACHE_ROOT/fuzz-target}
BUILD_ONLY=
if [[ ${1:-} == --build ]]; then BUILD_ONLY=1; shift; fi
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(filter patch body)
for target in "${TARGETS[@]}"; do
  if [[ ! -f fuzz/fuzz_targets/$target.rs ]]; then
    echo "fuzz: no target $target (have: $(cd fuzz/fuzz_targets && ls -- *.rs | sed 's/\.rs$//' | tr '\n' ' '))" >&2
    exit 2
  fi
done

# cargo-fuzz builds for the host with its sanitizer; a target chosen for the crate (hack/test.sh
# builds for musl) must not reach it, nor cargo-fuzz's own install.
unset CARGO_BUILD_TARGET

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz" >&2
  # In a target dir of its own: under hack/test.sh CARGO_TARGET_DIR is the crate's, and this
  # install, running at nice 19, would hold that dir's lock while the image build waits on it.
  env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked
fi

# The fuzz crate links the crate's protocol core alone (no default features); it, like the
# whole crate under clippy, must build without warnings (dependencies' lints are capped by cargo).
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-D warnings"

# Same flags for build and run (cargo fuzz's defaults: release, ASan), so run only links.
FUZZ_FLAGS=(--target-dir "$TARGET_DIR")
start=$(date +%s)
echo "==> fuzz build (cached in $TARGET_DIR)"
cargo +nightly fuzz build "${FUZZ_FLAGS[@]}"
build_secs=$(( $(date +%s) - start ))
echo "fuzz: build took ${build_secs}s"
[[ -z $BUILD_ONLY ]] || exit 0

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  echo "==> fuzz $target (${SECONDS_EACH}s)"
  mkdir -p "fuzz/corpus/$target"
  t0=$(date +%s)
  # -malloc_limit_mb: one allocation above it is a failure (unbounded allocation);
  # -rss_limit_mb: the whole process above it is a failure (ASan's own overhead included).
  status=ok
  if ! cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" \
      -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=8192 -print_final_stats=1 2>&1 | tee "$log"; then
    status=FAILED
    failed+=("$target")
  fi
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  summary+=("$(printf '%-7s %-6s %4ss  %s executions' "$target" "$status" "$secs" "${execs:-?}")")
done

echo "==> fuzz summary"
printf '  %s\n' "${summary[@]}"
echo "  total ${#TARGETS[@]} target(s): $(( $(date +%s) - start ))s (build ${build_secs}s)"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: failed: ${failed[*]} (reproducing inputs in fuzz/artifacts/)" >&2
  exit 1
fi
