# k6 and k6gate in one small image, for pipelines that run containers:
#
#   docker run --rm -v "$PWD:/work" -e GITHUB_TOKEN ghcr.io/k6gate/k6gate:0.1.0 \
#     run --test checkout --env staging --commit "$(git rev-parse HEAD)" --branch main
#
# The repository (templates, environments, policies, waivers) is mounted at /work; the image
# has no git binary, so pass --commit and --branch (or the GitHub Actions variables).
# .github/workflows/release.yml builds it for linux/amd64 and linux/arm64 and pushes it to
# ghcr.io.

# k6 from its official image, the version scripts/install-k6.sh installs (tests/workflows.rs
# compares the two).
FROM grafana/k6:1.1.0 AS k6

# k6gate as a static musl binary, cross-compiled on the build machine's own platform with
# cargo-zigbuild, as the release binaries are: no emulated compiler for arm64.
FROM --platform=$BUILDPLATFORM rust:1.95-slim AS build
ARG TARGETARCH
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/* \
    && pip3 install --no-cache-dir --break-system-packages "cargo-zigbuild==0.24.0" "ziglang==0.15.2"
RUN case "$TARGETARCH" in \
        amd64) echo x86_64-unknown-linux-musl ;; \
        arm64) echo aarch64-unknown-linux-musl ;; \
        *) echo "no k6gate build for $TARGETARCH" >&2; exit 1 ;; \
    esac >/rust-target \
    && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo zigbuild --release --locked -p k6gate --bin k6gate --target "$(cat /rust-target)" \
    && cp "target/$(cat /rust-target)/release/k6gate" /k6gate

# Alpine for a shell and CA certificates (k6gate trusts the system's roots); both binaries
# are static. Runs as an unprivileged user.
FROM alpine:3.22
RUN addgroup -S -g 10001 k6gate \
    && adduser -S -D -H -u 10001 -G k6gate -h /work k6gate \
    && mkdir -p /work \
    && chown k6gate:k6gate /work
COPY --from=k6 /usr/bin/k6 /usr/bin/k6
COPY --from=build /k6gate /usr/bin/k6gate
ENV K6_NO_USAGE_REPORT=true
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["k6gate"]
CMD ["--help"]
