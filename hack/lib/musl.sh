# shellcheck shell=bash
# Sourced by hack/image.sh, hack/test.sh and hack/bench.sh: the static musl target of this
# machine and musl-gcc (for ring's C parts), installed on first use. Sets MUSL_TARGET and exports
# CC_<target>=musl-gcc, so every cargo command of a run compiles ring the same way and shares
# one build (hack/test.sh builds the tests and the image's binary for this target).

MUSL_TARGET="$(uname -m | sed 's/arm64/aarch64/')-unknown-linux-musl"
case $MUSL_TARGET in
  x86_64-* | aarch64-*) ;;
  *) echo "musl: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

if ! rustup target list --installed | grep -qx "$MUSL_TARGET"; then
  echo "musl: rustup target add $MUSL_TARGET" >&2
  rustup target add "$MUSL_TARGET" >&2
fi
if ! command -v musl-gcc >/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "musl: installing musl-tools" >&2
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq musl-tools >&2
  else
    echo "musl: musl-gcc missing: install musl-tools (Debian: apt-get install musl-tools)" >&2
    exit 1
  fi
fi
export "CC_${MUSL_TARGET//-/_}=musl-gcc"
