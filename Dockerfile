FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/flare --create-home --uid 10001 flare
COPY --from=build /src/target/release/flare /usr/local/bin/flare
COPY config/flare.example.toml /usr/share/doc/flare/flare.example.toml
# The default SQLite database is data/flare.db below the working directory: keep it on a
# volume so that incidents, acknowledgements and timers survive a new container.
WORKDIR /var/lib/flare
RUN mkdir -p data && chown flare:flare data
VOLUME ["/var/lib/flare/data"]
USER flare
# No HEALTHCHECK yet: Flare has no HTTP health endpoint until the status-page work lands.
ENTRYPOINT []
CMD ["flare", "run"]
