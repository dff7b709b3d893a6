#!/usr/bin/env bash
# run.sh [bench-lifecycle flags...]
#
# Builds rless (hack/build.sh: the program with its image engine and
# network stack appended) and the lifecycle benchmark and runs the
# benchmark rootless: as root, hack/as-user.sh runs it as the unprivileged
# test user (with a subordinate id range) from a copy of the tree, so the
# build happens inside that copy. Flags are passed to bin/bench-lifecycle,
# e.g.
#   bench/lifecycle/run.sh -n 20 -json /tmp/lifecycle.json
# A -json path is written by the user the benchmark runs as. Needs
# busybox-static, podman, runc, conmon, slirp4netns, uidmap and catatonit
# (podman's --init), from Debian's packages.
set -euo pipefail

cd "$(dirname "$0")/../.."
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
exec hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go build -o bin/bench-lifecycle ./bench/lifecycle
	go build -trimpath -ldflags "-s -w" -o bin/bench-lifecycle-idle ./bench/lifecycle/idle
	exec bin/bench-lifecycle -rless bin/rless -idle bin/bench-lifecycle-idle "$@"
' bench-lifecycle -commit "$commit" "$@"
