# syntax=docker/dockerfile:1
# clinic-booking: a two-stage image. Dependencies are compiled in a layer of
# their own, so a source change rebuilds only the crate itself.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependency layer: the manifests with placeholder sources. The workspace's
# test-only member (crates/smtp-sink) is not built, but cargo reads its
# manifest and wants a target in it.
COPY Cargo.toml Cargo.lock ./
COPY crates/smtp-sink/Cargo.toml crates/smtp-sink/
RUN mkdir -p src tests/api tests/browser crates/smtp-sink/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/api/main.rs tests/browser/main.rs tests/sqlite_memory.rs \
        crates/smtp-sink/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src tests crates
# The crate itself (templates, articles, migrations and config defaults are
# built into the binary).
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /srv/clinic --create-home clinic \
    && mkdir /data \
    && chown 10001 /data
WORKDIR /srv/clinic
COPY --from=build /app/target/release/clinic-booking /usr/local/bin/clinic-booking
COPY config/default.toml config/default.toml
# Inside the container: listen on every interface; SQLite and .eml mail on
# the /data volume. Override with CLINIC__... variables (see docs/DEPLOYMENT.md).
ENV CLINIC__SERVER__BIND=0.0.0.0:8080 \
    CLINIC__DATABASE__URL=sqlite:///data/clinic.db \
    CLINIC__MAIL__FILE_DIR=/data/mail
VOLUME ["/data"]
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
CMD ["clinic-booking"]
