# Parley in a container. Build:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t parley .
# Run:   docker run -p 8080:8080 -p 1883:1883 -v parley-data:/data parley
# (8080: HTTP API, WebSocket and MQTT over WebSocket; 1883: MQTT over TCP.)
# The embedded store is SQLite through cgo, so the build stage needs gcc and
# the runtime image needs glibc (Debian slim).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not copied (.dockerignore), so Go cannot stamp the commit itself:
# `parley version` prints these.
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w \
      -X github.com/parley-im/parley/internal/app.Version=${VERSION} \
      -X github.com/parley-im/parley/internal/app.Commit=${COMMIT}" \
    -o /out/parley ./cmd/parley

FROM debian:bookworm-slim
RUN useradd --system --home /data --shell /usr/sbin/nologin parley \
 && install -d -o parley -g parley -m 0700 /data
COPY --from=build /out/parley /usr/local/bin/parley
USER parley
VOLUME /data
EXPOSE 8080 1883
# SIGTERM is a graceful stop; allow it time (docker stop -t 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["serve", "--data-dir", "/data", "--http-addr", "0.0.0.0:8080", "--mqtt-addr", "0.0.0.0:1883"]
