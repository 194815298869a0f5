# syntax=docker/dockerfile:1
# Multi-stage build: a static querygate binary on a distroless, non-root base.
#
#   docker build -t querygate .
#   docker run -p 8080:8080 -v qg-data:/data querygate
#
# The image listens on 0.0.0.0:8080 inside the container and keeps its
# embedded store in /data. Put the master key apart from the store
# (QUERYGATE_MASTER_KEY from a secret, or --master-key-file on another
# volume); see docs/backups.md.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${VERSION}" -o /out/querygate ./cmd/querygate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/querygate /usr/local/bin/querygate
USER 65532:65532
VOLUME ["/data"]
# Plain HTTP on 0.0.0.0 is refused unless --insecure-http says a proxy
# terminates TLS in front; for direct use set QUERYGATE_TLS_CERT and
# QUERYGATE_TLS_KEY (or QUERYGATE_TLS_SELF_SIGNED=true) and unset it.
ENV QUERYGATE_DATA_DIR=/data QUERYGATE_LISTEN=0.0.0.0:8080 QUERYGATE_LOG_FORMAT=json QUERYGATE_INSECURE_HTTP=true
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/querygate"]
CMD ["serve"]
