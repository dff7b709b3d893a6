#!/usr/bin/env bash
# build.sh [OUT]: builds rless (default bin/rless): the program that runs
# containers (built with the rless_lean tag, without containers/image),
# with the image engine (the same program built without it, which links
# containers/image) and the network stack
# (cmd/rless-netstack, which links gVisor's netstack) appended to it. See
# cmd/rless/engine.go for why.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/rless}
export CGO_ENABLED=0
ldflags=${LDFLAGS:-"-s -w"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -trimpath -ldflags "$ldflags" -tags rless_lean,containers_image_openpgp -o "$tmp/lean" ./cmd/rless
go build -trimpath -ldflags "$ldflags" -tags containers_image_openpgp -o "$tmp/engine" ./cmd/rless
mkdir -p "$(dirname "$out")"
go build -trimpath -ldflags "$ldflags" -o "$tmp/netstack" ./cmd/rless-netstack
go run ./hack/payload "$out" "$tmp/lean" RLESSENG="$tmp/engine" RLESSNET="$tmp/netstack"
