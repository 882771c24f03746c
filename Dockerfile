# kmsproof in a container: a static Z3 built from the registry's z3-src crate, so the run
# stage has no libz3. Build: docker build -t kmsproof .
# Run:   docker run --rm -v "$PWD:/src" -w /src kmsproof audit .
#
# Z3 5's sources need CMake >= 3.26 and a C++20 <format> (GCC >= 13): Debian trixie's
# packages have both (bookworm's cmake 3.25 and GCC 12 do not; scripts/build-static.sh is
# the bookworm route, with clang-16 and libc++). The binary links libstdc++, which every
# Debian image has (apt needs it), and no libz3: the build stage checks that.
# Never built here (no Docker engine on the development machine). The static build itself was
# built and measured outside a container on bookworm (clang-16 + libc++): docs/install.md.
FROM rust:1-slim-trixie AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake g++ make python3 pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY . .
RUN cargo build --release --locked --features static-z3 --bin kmsproof \
 && strip target/release/kmsproof \
 && ! ldd target/release/kmsproof | grep libz3

FROM debian:trixie-slim
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin kmsproof
COPY --from=build /build/target/release/kmsproof /usr/local/bin/kmsproof
USER kmsproof
ENTRYPOINT ["kmsproof"]
CMD ["--help"]
