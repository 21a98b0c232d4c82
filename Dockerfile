# syntax=docker/dockerfile:1

# Build a static manager binary.
FROM golang:1.26 AS builder
ARG TARGETARCH
WORKDIR /workspace

# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/

# -trimpath and an empty build id: the same sources give the same binary,
# byte for byte, as `make image` builds it.
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -mod=readonly -trimpath -ldflags="-s -w -buildid=" -o /manager .

# Run it on distroless: no shell, no package manager, a nonroot user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
