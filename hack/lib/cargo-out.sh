# shellcheck shell=bash
# Sourced: where cargo writes a profile's binaries. cargo_out PROFILE [TARGET] prints the directory
# for PROFILE (`dev` writes to `debug`) and TARGET (default CARGO_BUILD_TARGET, which hack/test.sh
# sets to musl; none: the host's directory).
cargo_out() {
  local profile=$1 target=${2:-${CARGO_BUILD_TARGET:-}} dir=$1
  [[ $profile == dev ]] && dir=debug
  echo "${CARGO_TARGET_DIR:-target}/${target:+$target/}$dir"
}
