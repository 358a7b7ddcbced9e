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
# The HTTP server (health, readiness, metrics) listens on every interface in the container;
# publish the port (docker-compose.yml does). Outside a container the default is 127.0.0.1.
ENV FLARE__HTTP__LISTEN=0.0.0.0:8080
EXPOSE 8080
# The image has no curl or wget: `flare healthcheck` asks /healthz on http.listen itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["flare", "healthcheck", "--timeout", "3s"]
ENTRYPOINT []
CMD ["flare", "run"]
