#!/bin/sh
# deps.sh: make sure the Debian packages Cairn builds, tests and runs with
# are installed. As root, installs what is missing; otherwise prints the one
# apt-get line needed and fails. Usage: scripts/deps.sh [bench]
set -eu

# nginx: the TLS edge the integration test drives cairnd through
# (etc/nginx/cairn.conf); openssl: its test certificate, made at test time;
# clang: libFuzzer for make fuzz (fuzz/); groff-base: the test that renders
# the man pages (man/) and fails on any warning.
PKGS="gcc make pkg-config libuv1-dev libsqlite3-dev liblua5.4-dev libyaml-dev
libcurl4-openssl-dev libcriterion-dev libjansson-dev node-llhttp libssl-dev
sqlite3 curl nginx openssl clang groff-base"

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
