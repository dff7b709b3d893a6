#!/usr/bin/env bash
# run.sh [bench-oci flags...]
#
# Builds rless (hack/build.sh) and bench/oci and runs the benchmark
# rootless: as root, hack/as-user.sh runs it as the unprivileged test user
# from a copy of the tree. Needs runc and busybox-static (hack/deps.sh).
#   bench/oci/run.sh -n 30 -json /tmp/oci.json
set -euo pipefail
cd "$(dirname "$0")/../.."
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-oci ./bench/oci
	exec bin/bench-oci -rless bin/rless "$@"
' bench-oci "$@"
