#!/usr/bin/env bash
# Install every build and test dependency of fieldsync from Debian 12 packages.
# Idempotent: packages already present are not fetched again; safe to run as often as needed.
set -euo pipefail

PKGS=(
	build-essential cmake pkg-config git
	libgit2-dev libsqlcipher-dev sqlcipher sqlite3
	libcurl4-openssl-dev libmbedtls-dev libhttp-parser-dev
	libjansson-dev libargon2-dev libcmocka-dev zlib1g-dev
	libssl-dev			# SHA-256 with the CPU's SHA instructions (base/crypto.c)
	clang libclang-rt-14-dev
	clang-format clang-format-14	# the format check in tests/run.sh (.clang-format is for 14)
	openssl python3 procps binutils curl
	libmicrohttpd-dev		# the agent's local web interface (serve)
	libinih-dev			# the configuration files /etc/fieldsync/*.conf (cli/config.c)
	libsystemd-dev			# sd_notify: readiness and stopping under systemd (cli/notify.c)
	mandoc man-db			# the manual pages' lint (mandoc -Tlint, man --warnings)
	systemd				# systemd-analyze: the units verified and scored (test_systemd.py)
	strace				# test_systemd.py: the system calls made, against the units' filter
	chromium chromium-driver python3-selenium	# the web interface's browser tests
	dpkg-dev lintian		# the .deb packages: dpkg-shlibdeps, dpkg-buildflags, their check
	mandoc man-db			# the man pages' checks (mandoc -Tlint, man --warnings)
	debootstrap			# the install test's fresh Debian 12 root
	libfaketime			# libfaketime: one process days ahead (test_metrics.py, test_ca_rollover.py)
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
