#!/usr/bin/env bash
# run.sh [bench-sandbox flags...]
#
# Builds rless (hack/build.sh) and bench/sandbox and runs the benchmark
# rootless: as root, hack/as-user.sh runs it as the unprivileged test user
# from a copy of the tree. Needs bubblewrap (hack/deps.sh).
#   bench/sandbox/run.sh -n 30 -json /tmp/sandbox.json
set -euo pipefail
cd "$(dirname "$0")/../.."
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-sandbox ./bench/sandbox
	exec bin/bench-sandbox -rless bin/rless "$@"
' bench-sandbox "$@"
