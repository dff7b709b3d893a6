#!/usr/bin/env bash
# busybox-rootfs.sh DIR: makes DIR a minimal root filesystem from the host's
# static busybox (Debian: busybox-static), to try rless on.
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
busybox=${BUSYBOX:-/bin/busybox}
mkdir -p "$dir"/{bin,etc,root,tmp,proc,sys,dev}
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
[ -e "$dir/etc/passwd" ] || printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
[ -e "$dir/etc/group" ] || printf 'root:x:0:\ntty:x:5:\n' >"$dir/etc/group"
