# keycred's container image: built with the pinned Rust toolchain, run as a non-root
# user on a slim base, the SQLite database in the /data volume. Operators' notes
# (ports, volumes, PostgreSQL, backups) are in docs/operations.md, "Containers".
# tests/api/container.rs runs this file's CMD and HEALTHCHECK against the binary.

# The toolchain keycred's CI builds and tests with.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin keycred \
    && cp target/release/keycred /usr/local/bin/keycred

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home keycred \
    && mkdir /data \
    && chown keycred:keycred /data \
    && chmod 0700 /data
COPY --from=build /usr/local/bin/keycred /usr/local/bin/keycred
USER keycred
VOLUME /data
ENV KEYCRED_DATABASE=/data/keycred.db
# 8080: the API. 9090: /metrics, for the scraper's network only; do not publish it.
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["keycred", "probe", "--address", "127.0.0.1:8080"]
ENTRYPOINT ["keycred"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:9090"]
