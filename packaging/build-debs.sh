#!/usr/bin/env bash
# Build the Debian packages fieldsync-agent, fieldsync-server and fieldsync-common.
#
#   packaging/build-debs.sh [OUTDIR]     (default: build-deb/debs)
#
# A release build of its own (FIELDSYNC_DEB_BUILD, default build-deb/) with the flags
# dpkg-buildflags gives every Debian package (hardening=+all: fortify, stack protector,
# relro, bind-now, PIE), no test suite, then CPack's DEB generator (packaging/package.cmake):
# dependencies computed by dpkg-shlibdeps, binaries stripped.  Prints the .deb paths, one a
# line.  The packages' checks are tests/integration/test_packages.py (lintian included).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${FIELDSYNC_DEB_BUILD:-$top/build-deb}
out=${1:-$build/debs}
jobs=${FIELDSYNC_JOBS:-2}

for tool in cmake cpack dpkg-buildflags dpkg-shlibdeps dpkg-deb gzip; do
	command -v "$tool" >/dev/null || {
		echo "build-debs: $tool is missing (packaging/install-deps.sh installs it)" >&2
		exit 1
	}
done

# the flags of a Debian package build; -ffile-prefix-map hides the build path
cd "$top"
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
	-DFIELDSYNC_TESTS=OFF -DFIELDSYNC_WERROR=ON -DFIELDSYNC_SANITIZE=OFF \
	-DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null

rm -rf "$build/cpack"
(cd "$build" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$build/cpack" >/dev/null) || {
	echo "build-debs: cpack failed; its log:" >&2
	cat "$build"/cpack/_CPack_Packages/*/DEB/*.log 2>/dev/null >&2 || true
	exit 1
}

mkdir -p "$out"
rm -f "$out"/fieldsync-*.deb
shopt -s nullglob
debs=("$build"/cpack/fieldsync-*.deb)
if [ ${#debs[@]} -ne 3 ]; then
	echo "build-debs: expected 3 packages, cpack made ${#debs[@]}: ${debs[*]}" >&2
	exit 1
fi
cp "${debs[@]}" "$out/"
for deb in "$out"/fieldsync-*.deb; do
	echo "$deb"
done
