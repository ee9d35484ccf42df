# The billing API image: a release build of the `billing` binary on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p billing-api --bin billing

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/billing --create-home billing
COPY --from=build /src/target/release/billing /usr/local/bin/billing
USER billing
WORKDIR /var/lib/billing
ENV BILLING_SERVER__BIND=0.0.0.0:8080 \
    BILLING_LOG__FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fs http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["billing"]
CMD ["serve"]
