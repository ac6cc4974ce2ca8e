# Parley in a container. Build: docker build -t parley .
# Run:   docker run -p 8080:8080 -v parley-data:/data parley
# The embedded store is SQLite through cgo, so the build stage needs gcc and
# the runtime image needs glibc (Debian slim).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/parley ./cmd/parley

FROM debian:bookworm-slim
RUN useradd --system --home /data --shell /usr/sbin/nologin parley \
 && install -d -o parley -g parley -m 0700 /data
COPY --from=build /out/parley /usr/local/bin/parley
USER parley
VOLUME /data
EXPOSE 8080
# SIGTERM is a graceful stop; allow it time (docker stop -t 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["serve", "--data-dir", "/data", "--http-addr", "0.0.0.0:8080"]
