#!/usr/bin/env bash
# test.sh: runs every test of rless the way it must run: unprivileged.
#
# As an ordinary user it runs `go test ./...` as you. As root (as CI does)
# it runs the suite as the user rlesstest, which has a subordinate id range,
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
	exec go test -count=1 "$@" ./...
fi

status=0
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
