#!/usr/bin/env bash
# run.sh [bench-startup flags...]
#
# Builds rless and the startup benchmark and runs the benchmark rootless:
# as root, hack/as-user.sh runs it as the unprivileged test user from a copy
# of the tree (so the build happens inside that copy). Flags are passed to
# bin/bench-startup, e.g.
#   bench/startup/run.sh -n 30 -cases rless,bwrap -json /tmp/startup.json
# A -json path is written by the user the benchmark runs as.
set -euo pipefail

cd "$(dirname "$0")/../.."
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-startup ./bench/startup
	exec bin/bench-startup -rless bin/rless "$@"
' bench-startup "$@"
