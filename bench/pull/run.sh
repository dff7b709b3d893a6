#!/usr/bin/env bash
# run.sh [bench-pull flags...]
#
# Builds rless (hack/build.sh: the program with its image engine appended)
# and the pull benchmark and runs the benchmark rootless: as root,
# hack/as-user.sh runs it as the unprivileged test user (with a subordinate
# id range) from a copy of the tree, so the build happens inside that copy.
# Flags are passed to bin/bench-pull, e.g.
#   bench/pull/run.sh -n 9 -json /tmp/pull.json
# A -json path is written by the user the benchmark runs as. Needs
# docker-registry, busybox-static and podman (with uidmap and
# fuse-overlayfs), and about 0.4 GB of disk in /var/tmp per round.
set -euo pipefail

cd "$(dirname "$0")/../.."
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-pull ./bench/pull
	exec bin/bench-pull -rless bin/rless "$@"
' bench-pull -commit "$commit" "$@"
