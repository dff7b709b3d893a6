#!/usr/bin/env bash
# as-user.sh CMD [ARGS...]
#
# Runs CMD as an unprivileged user, from a copy of this source tree, so that
# rootless code is tested rootless. Run by an ordinary user it simply runs
# CMD in place. Run as root (as CI does) it:
#   - creates the user rlesstest with a subordinate id range (100000+65536)
#     and rlesstest2 without one (for the single-mapping fallback),
#   - copies the tree to a directory rlesstest owns,
#   - mounts a 4 MB tmpfs of the user's for the full-disk tests,
#   - runs CMD there as rlesstest, with its own Go caches.
# RLESS_AS_USER picks another user name (it must already exist).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	exec "$@"
fi

src=$(cd "$(dirname "$0")/.." && pwd)
user=${RLESS_AS_USER:-rlesstest}

ensure_user() { # name with-range
	local name=$1 range=$2
	if ! id "$name" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash "$name"
	fi
	for f in /etc/subuid /etc/subgid; do
		touch "$f"
		if [ "$range" = yes ]; then
			grep -q "^$name:" "$f" || echo "$name:100000:65536" >>"$f"
		else
			sed -i "/^$name:/d" "$f"
		fi
	done
}
if [ -z "${RLESS_AS_USER:-}" ]; then
	ensure_user rlesstest yes
	ensure_user rlesstest2 no
fi
# Two addresses outside the private ranges, on the loopback device, for the
# tests of the sandbox's network allow-list (internal/testenv.EgressAddrs):
# its names must resolve to addresses that are not refused as private ones.
# (The listing is read whole: grep -q ending a pipe early fails it under
# pipefail.)
for a in 198.51.100.10 198.51.100.11; do
	lo=$(ip -4 addr show dev lo)
	grep -q " $a/" <<<"$lo" || ip addr add "$a/32" dev lo
done

# ICMP echo sockets for rlesstest's group only: the ping tests see the host
# permit it (rlesstest) and refuse it (rlesstest2).
if g=$(id -g rlesstest 2>/dev/null); then
	sysctl -qw net.ipv4.ping_group_range="$g $g"
fi

home=$(getent passwd "$user" | cut -d: -f6)
work=/var/tmp/rless-ci
mkdir -p "$work"
chmod 755 "$work"
cache="$work/cache-$user"
mkdir -p "$cache"
chown "$user:" "$cache"
# A small filesystem of the user's, to fill: the tests of a full disk
# (internal/testenv.SmallFS) put a store on it.
small="$work/small-$user"
mkdir -p "$small"
if ! mountpoint -q "$small"; then
	mount -t tmpfs -o size=4m,mode=0700,uid="$(id -u "$user")",gid="$(id -g "$user")" tmpfs "$small"
fi
dst=$(mktemp -d "$work/src-$user.XXXXXX")
trap 'rm -rf "$dst"' EXIT
# The tree as it is, without build outputs.
tar -C "$src" --exclude=./bin --exclude=./.git -cf - . | tar -C "$dst" -xf -
chown -R "$user:" "$dst"

goroot=$(go env GOROOT)
chmod 755 "$dst"
cd "$dst"
runuser -u "$user" -- env -i \
	HOME="$home" USER="$user" LOGNAME="$user" TERM="${TERM:-dumb}" \
	PATH="$goroot/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
	GOPATH="$cache/gopath" GOMODCACHE="$cache/gomod" GOCACHE="$cache/gocache" \
	GOFLAGS="-modcacherw -tags=containers_image_openpgp" GOTOOLCHAIN=local CGO_ENABLED=0 \
	${GOPROXY:+GOPROXY="$GOPROXY"} ${CI:+CI="$CI"} \
	RLESS_SRC="$src" RLESS_TEST_SMALLFS="$small" \
	"$@"
