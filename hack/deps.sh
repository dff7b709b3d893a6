#!/usr/bin/env bash
# deps.sh: installs the Debian packages rless's tests and benchmarks use.
# Run as root. Everything is optional at run time except newuidmap (uidmap)
# for multi-id mappings; the tests need busybox-static for their root
# filesystems, bubblewrap as the startup baseline and keyutils (keyctl) for
# the keyring test, and docker-registry (the distribution registry) as the
# registry the image tests pull from, fuse-overlayfs for the FUSE fallback
# of image roots, slirp4netns and passt (pasta) for the external network
# modes, and gcc (with libc6-dev) to build a library example with cgo, as
# Go builds programs by default where a C compiler is installed; podman,
# with runc, conmon and catatonit, is the engine that runs rless as its OCI
# runtime in the tests (and the peer of the benchmarks), as is rootless
# containerd under rootlesskit.
#
# deps.sh --check prints the packages that are missing (nothing when all are
# there, or when this is no Debian system) and changes nothing; any user may
# run it.
set -euo pipefail
pkgs=(uidmap busybox-static bubblewrap procps keyutils docker-registry fuse-overlayfs slirp4netns passt gcc libc6-dev podman runc conmon catatonit containerd rootlesskit)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" = --check ]; then
	if command -v dpkg-query >/dev/null; then
		echo "${missing[*]}"
	fi
	exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Unprivileged FUSE and tap devices need /dev/fuse and /dev/net/tun open to
# all, as udev makes them on a desktop; machines without udev leave them to
# root.
for dev in /dev/fuse /dev/net/tun; do
	if [ -c "$dev" ]; then
		chmod 0666 "$dev"
	fi
done
