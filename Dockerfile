# Build stage: dependencies are compiled in a layer of their own.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api tests/browser && echo 'fn main() {}' > src/main.rs && touch src/lib.rs tests/api/main.rs tests/browser/main.rs \
    && cargo build --release --locked && rm -rf src tests
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Runtime stage: the binary and its configuration.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /srv/clinic --create-home clinic
WORKDIR /srv/clinic
COPY --from=build /app/target/release/clinic-booking /usr/local/bin/clinic-booking
COPY config/default.toml config/default.toml
ENV CLINIC__SERVER__BIND=0.0.0.0:8080 \
    CLINIC__DATABASE__URL=sqlite:///data/clinic.db
RUN mkdir /data && chown clinic /data
VOLUME /data
USER clinic
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["clinic-booking"]
