#!/usr/bin/env bash
# build.sh [OUT]: builds rless (default bin/rless): the program that runs
# containers (built with the rless_lean tag, without containers/image),
# with the image engine (the same program built without it, which links
# containers/image), the network stack (cmd/rless-netstack, which links
# gVisor's netstack) and the supervisor of detached containers
# (cmd/rless-supervisor, built with rless_lean and rless_netin: the lean
# engine with gVisor, serving their networks in process) and their init
# (cmd/rless-init, the container runtime alone) appended to it. See cmd/rless/engine.go for why.
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
go build -trimpath -ldflags "$ldflags" -tags rless_lean,rless_netin,containers_image_openpgp -o "$tmp/monitor" ./cmd/rless-supervisor
go build -trimpath -ldflags "$ldflags" -o "$tmp/init" ./cmd/rless-init
go run ./hack/payload "$out" "$tmp/lean" RLESSENG="$tmp/engine" RLESSNET="$tmp/netstack" RLESSMON="$tmp/monitor" RLESSINI="$tmp/init"
