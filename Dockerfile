FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/flare /usr/local/bin/flare
COPY config/flare.example.toml /usr/share/doc/flare/flare.example.toml
ENTRYPOINT []
CMD ["flare", "run"]
