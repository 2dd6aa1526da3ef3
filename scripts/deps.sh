#!/bin/sh
# deps.sh: make sure the Debian packages Cairn builds, tests and runs with
# are installed. As root, installs what is missing; otherwise prints the one
# apt-get line needed and fails. Usage: scripts/deps.sh [bench|e2e]
set -eu

# nginx: the TLS edge the integration test drives cairnd through
# (etc/nginx/cairn.conf); openssl: its test certificate, made at test time;
# clang: libFuzzer for make fuzz (fuzz/); groff-base: the test that renders
# the man pages (man/) and fails on any warning.
PKGS="gcc make pkg-config libuv1-dev libsqlite3-dev liblua5.4-dev libyaml-dev
libcurl4-openssl-dev libcriterion-dev libjansson-dev node-llhttp libssl-dev
sqlite3 curl nginx openssl clang groff-base"
# e2e: the web console's tests (make e2e, part of make test) drive Debian's
# Chromium headless with playwright-core from npm; node runs them. A node
# that brings its own npm (as NodeSource's does) is kept: Debian's npm
# would want Debian's nodejs in its place.
if [ "${1:-}" = e2e ]; then
	PKGS="$PKGS chromium"
	command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "cairn: missing Debian packages; as root, run:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "cairn: installing missing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
