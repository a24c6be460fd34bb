# syntax=docker/dockerfile:1
# The scim-operator image: a static musl binary on an empty base, running as a non-root user with
# no shell. Builds with any builder (docker, podman, buildah, kaniko); for another architecture,
# build on (or emulate) that platform: the target triple follows the build machine.
# hack/image.sh builds the same image without a daemon; keep USER, ENTRYPOINT, CMD, EXPOSE and the
# labels in step with it (tests/helm/image.rs compares them).

FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# musl-gcc compiles ring's C parts; the result is static and stripped.
RUN target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && env "CC_$(echo "$target" | tr - _)=musl-gcc" CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --locked --release --target "$target" --bin scim-operator \
 && mkdir -p /rootfs/usr/local/bin /rootfs/tmp \
 && install -m 0755 "target/$target/release/scim-operator" /rootfs/usr/local/bin/scim-operator \
 && chmod 1777 /rootfs/tmp

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/scim-operator/scim-operator
LABEL org.opencontainers.image.title="scim-operator" \
      org.opencontainers.image.description="SCIM 2.0 endpoint for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/scim-operator"]
CMD ["serve"]
