# The kassa image: static binaries of the four services and the gateway,
# plus a tiny HTTP probe for Compose health checks, on a distroless base
# (no shell, no package manager), running as the unprivileged user 65532.
#
#   docker build -t kassa:dev .            (podman/buildah: same arguments)
#
# Each component runs its own binary, chosen by the command:
#   /usr/local/bin/user | billing | order | notification   [serve|migrate]
#   /usr/local/bin/gateway                                 (the default CMD)
# or all five run in one process (services/allinone; settings prefixed by
# the component's name, USER_DATABASE_URL ...):
#   /usr/local/bin/kassa
# The Helm chart (charts/kassa) and compose.yaml set it for each container.
#
# Base images are fully qualified so that podman and buildah find them
# without short-name aliases; override them to use a mirror:
#   --build-arg GO_IMAGE=mirror.example/golang:1.26-bookworm
#   --build-arg RUNTIME_IMAGE=mirror.example/distroless/static-debian12:nonroot
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
# Only for the Compose one-shot that prepares the identity files (target
# auth-init): it needs a shell, which the runtime image has not.
ARG INIT_IMAGE=docker.io/library/busybox:1.37

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Each binary is built from its own module (go.mod with replace directives
# for gen and platform), not from the repository's go.work, so the image
# does not change when modules that it does not contain join the workspace.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOWORK=off GOTOOLCHAIN=local
ARG MODULES="gen services/platform services/user services/billing services/order services/notification gateway services/allinone"
# Module downloads first, cached while only sources change.
COPY gen/go.mod gen/go.sum gen/
COPY services/platform/go.mod services/platform/go.sum services/platform/
COPY services/user/go.mod services/user/go.sum services/user/
COPY services/billing/go.mod services/billing/go.sum services/billing/
COPY services/order/go.mod services/order/go.sum services/order/
COPY services/notification/go.mod services/notification/go.sum services/notification/
COPY gateway/go.mod gateway/go.sum gateway/
COPY services/allinone/go.mod services/allinone/go.sum services/allinone/
RUN --mount=type=cache,target=/go/pkg/mod \
    for m in $MODULES; do (cd $m && go mod download) || exit 1; done
COPY . .
# VERSION is the release the gateway reports as info.version of its OpenAPI
# document: docker build --build-arg VERSION=$(git describe --tags --always --dirty).
ARG VERSION=unreleased
# -buildvcs=false: .git is not in the build context (.dockerignore).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out && \
    for c in user billing order notification; do \
        (cd services/$c && go build -mod=readonly -buildvcs=false -ldflags='-s -w' -o /out/$c ./cmd/$c) || exit 1; \
    done && \
    (cd gateway && go build -mod=readonly -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o /out/gateway ./cmd/gateway) && \
    (cd services/allinone && go build -mod=readonly -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o /out/kassa ./cmd/kassa)
# probe URL: exit 0 when GET URL answers 200 within 3 s. The runtime image
# has no shell, curl or wget, so Compose health checks run this. (Kubernetes
# probes the containers natively and does not need it.)
RUN mkdir -p /probe && cd /probe && printf '%s\n' \
      'package main' \
      'import ("fmt"; "net/http"; "os"; "time")' \
      'func main() {' \
      '	if len(os.Args) != 2 { fmt.Fprintln(os.Stderr, "usage: probe URL"); os.Exit(2) }' \
      '	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(os.Args[1])' \
      '	if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }' \
      '	resp.Body.Close()' \
      '	if resp.StatusCode != http.StatusOK { fmt.Fprintln(os.Stderr, os.Args[1], resp.Status); os.Exit(1) }' \
      '}' > main.go && \
    go build -ldflags='-s -w' -o /out/probe main.go && \
    for b in user billing order notification gateway kassa probe; do test -x /out/$b; done

# auth-init (docker build --target auth-init): busybox and the user binary,
# for compose.yaml's one-shot that creates the signing key file once
# (`user keygen`) and the order service's client secret. Not the default
# target: the last stage below is.
FROM ${INIT_IMAGE} AS auth-init
COPY --from=build /out/user /usr/local/bin/user

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="kassa" \
      org.opencontainers.image.description="kassa: user, billing, order and notification gRPC services and the REST gateway, apart or in one process" \
      org.opencontainers.image.source="https://github.com/kassa-dev/kassa"
COPY --from=build /out/ /usr/local/bin/
# Numeric, so that Kubernetes can verify runAsNonRoot.
USER 65532:65532
# gateway HTTP and admin; services gRPC and admin.
EXPOSE 8080 9100 50051 50052 50053 50054 9101 9102 9103 9104
CMD ["/usr/local/bin/gateway"]
