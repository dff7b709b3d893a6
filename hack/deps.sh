#!/usr/bin/env bash
# deps.sh: installs the Debian packages rless's tests and benchmarks use.
# Run as root. Everything is optional at run time except newuidmap (uidmap)
# for multi-id mappings; the tests need busybox-static for their root
# filesystems, bubblewrap as the startup baseline and keyutils (keyctl) for
# the keyring test, and docker-registry (the distribution registry) as the
# registry the image tests pull from.
set -euo pipefail
pkgs=(uidmap busybox-static bubblewrap procps keyutils docker-registry)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
