#!/usr/bin/env bash
# test.sh: runs every test of rless the way it must run: unprivileged.
#
# As an ordinary user it runs `go test ./...` as you (after checking that the
# Debian packages the tests need are installed). As root (as CI does) it
# installs them (hack/deps.sh) and runs the suite as the user rlesstest, which has a subordinate id range,
# and the end-to-end tests once more as rlesstest2, which has none (the
# single-mapping fallback), through hack/as-user.sh. As root it also tells
# the tests (RLESS_TEST_EXPECT_DEPS=1, see internal/testenv) that this
# machine is set up as hack/deps.sh sets it up: slirp4netns, pasta,
# fuse-overlayfs, a usable /dev/net/tun and /dev/fuse. The tests that need
# one fail rather than skip when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -tags=containers_image_openpgp"

if [ "$(id -u)" != 0 ]; then
	missing=$(hack/deps.sh --check)
	if [ -n "$missing" ]; then
		echo "make test: the tests need Debian packages that are missing: $missing (as root, \`make deps\` installs them, or run \`make test\` as root)" >&2
		exit 1
	fi
	exec go test -count=1 "$@" ./...
fi

# As root: what the tests need first (idempotent; quick when all is there).
hack/deps.sh

status=0
# Where root has used podman, /run/containers is root's (mode 0700): the
# credentials lookup must skip /run/containers/$UID there. Make every run
# such a machine.
if [ ! -e /run/containers ]; then
	install -d -m 0700 /run/containers
fi
echo "== all tests, as rlesstest (subordinate range 100000-165535)"
hack/as-user.sh env RLESS_TEST_EXPECT_DEPS=1 go test -count=1 "$@" ./... || status=1
echo "== fuzzing the layer unpacker and the reference parser briefly, as rlesstest"
# Budgets in executions, not seconds: Go 1.26's fuzzer can report a bare
# "context deadline exceeded" when a -fuzztime duration ends while a
# worker is busy (go.dev/issue/75804, fixed in Go 1.27). About 20 s and
# 10 s on these machines.
hack/as-user.sh bash -c 'go test -run XXX -fuzz FuzzUnpack -fuzztime 4000x -fuzzminimizetime 200x ./pkg/layer &&
	go test -run XXX -fuzz FuzzParse -fuzztime 60000x ./pkg/reference' || status=1
echo "== end-to-end tests, as rlesstest2 (no subordinate range)"
RLESS_AS_USER=rlesstest2 hack/as-user.sh env RLESS_TEST_EXPECT_RANGE=0 RLESS_TEST_EXPECT_DEPS=1 go test -count=1 "$@" ./test/ || status=1
exit $status
