#!/usr/bin/env bash
# build.sh [OUT]: builds rless (default bin/rless): the program that runs
# containers, with three programs appended to it: the image engine (the
# same program built with the rless_engine tag, which links
# containers/image), the network stack (cmd/rless-netstack, which links
# gVisor's netstack) and the container stage (cmd/rless-init, which starts
# faster than all of rless). See cmd/rless/engine.go for why.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/rless}
export CGO_ENABLED=0
ldflags=${LDFLAGS:-"-s -w"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -trimpath -ldflags "$ldflags" -o "$tmp/lean" ./cmd/rless
go build -trimpath -ldflags "$ldflags" -tags rless_engine,containers_image_openpgp -o "$tmp/engine" ./cmd/rless
mkdir -p "$(dirname "$out")"
go build -trimpath -ldflags "$ldflags" -o "$tmp/netstack" ./cmd/rless-netstack
go build -trimpath -ldflags "$ldflags" -o "$tmp/init" ./cmd/rless-init
go run ./hack/payload "$out" "$tmp/lean" RLESSENG="$tmp/engine" RLESSNET="$tmp/netstack" RLESSINI="$tmp/init"
