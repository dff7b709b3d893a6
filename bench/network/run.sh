#!/usr/bin/env bash
# run.sh [bench-network flags...]
#
# Builds rless, the network benchmark and its static ping-pong client, and
# runs the benchmark rootless: as root, hack/as-user.sh runs it as the
# unprivileged test user from a copy of the tree (so the build happens
# inside that copy). Flags are passed to bin/bench-network, e.g.
#   bench/network/run.sh -t 10 -n 3 -json /tmp/network.json
# A -json path is written by the user the benchmark runs as. Needs iperf3
# and busybox-static; slirp4netns and pasta (package passt) are compared
# with when installed.
set -euo pipefail

cd "$(dirname "$0")/../.."
missing=
for p in iperf3:iperf3 busybox:busybox-static slirp4netns:slirp4netns pasta:passt; do
	command -v "${p%%:*}" >/dev/null || missing="$missing ${p#*:}"
done
if [ -n "$missing" ]; then
	echo "run.sh: missing (apt-get install -y$missing)" >&2
	command -v iperf3 >/dev/null || exit 1
	command -v busybox >/dev/null || exit 1
fi
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-network ./bench/network
	CGO_ENABLED=0 go build -o bin/bench-network-pingpong ./bench/network/pingpong
	exec bin/bench-network -rless bin/rless -pingpong bin/bench-network-pingpong "$@"
' bench-network "$@"
