#!/usr/bin/env bash
# conformance.sh [-write FILE] [-check FILE]
#
# Runs the OCI runtime validation suite against rless and runc as the
# unprivileged test user (through hack/as-user.sh when run as root, from a
# copy of the tree): builds rless and the suite, prints the report, and
#   -write FILE   writes it to FILE (e.g. CONFORMANCE.md)
#   -check FILE   fails on a regression against FILE (CI: CONFORMANCE.md)
set -euo pipefail
cd "$(dirname "$0")/.."
write= check=
while [ $# -gt 0 ]; do
	case "$1" in
	-write) write=$2; shift 2 ;;
	-check) check=$2; shift 2 ;;
	*) echo "conformance.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
out=$(mktemp -d)
chmod 0777 "$out"
trap 'rm -rf "$out"' EXIT
flags=(-write "$out/report.md")
if [ -n "$check" ]; then
	flags+=(-check "$check")
fi
status=0
hack/as-user.sh bash -c '
	set -euo pipefail
	hack/build.sh bin/rless
	go run ./hack/conformance -rless bin/rless -runc "$(command -v runc)" "$@"
' conformance "${flags[@]}" || status=$?
if [ -n "$write" ] && [ -f "$out/report.md" ]; then
	cp "$out/report.md" "$write"
fi
exit $status
