# syntax=docker/dockerfile:1
#
# webhookd as a container: a static binary (no cgo) on distroless/static, which carries CA certificates and tzdata
# and nothing else (no shell, no curl), running as the non-root user 65532. Health checks use the binary itself:
# `webhookd healthcheck` probes /readyz. See docker-compose.yml for a gateway with Redis, and docs/scaling.md.
#
#   docker build -t webhookd .
#   docker run --rm -e WEBHOOKD_OPERATOR_TOKEN=… -p 8080:8080 -v webhookd-data:/data webhookd
#
# Without a token (or --operator-token-file, for a mounted secret) webhookd creates one in /data/operator-token on
# first start. The image has no shell or cat: the client inside it reads that file by itself
# (docker exec CONTAINER webhookd tenants list), and docker cp CONTAINER:/data/operator-token - | tar -xO prints it.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/webhookd ./cmd/webhookd \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/webhookd /usr/local/bin/webhookd
# The embedded store (and the operator token file, when no token is given) live in /data, owned by the runtime user
# so that a fresh named volume, which copies this directory, is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV WEBHOOKD_LISTEN=0.0.0.0:8080 \
    WEBHOOKD_DATA=/data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/webhookd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/webhookd"]
CMD ["serve"]
