#!/usr/bin/env bash
# Install the packages on a fresh Debian 12 and use them: the must-hold install test.
#
#   packaging/install-test.sh DEBDIR [WORKDIR]      (as root; WORKDIR default build/install-test)
#
# 1. debootstrap a minimal bookworm into WORKDIR/root (the downloaded base is cached as
#    WORKDIR/bookworm-*.tgz, so a repeat run needs the mirror only for the packages'
#    dependencies); the mirror is the one apt on this machine uses (FIELDSYNC_MIRROR
#    overrides);
# 2. apt-get install ./fieldsync-*.deb inside it (dependencies from the mirror);
# 3. check what the packages promise: binaries, the user and its 0700 state directory,
#    /etc/fieldsync, the man pages (man -w), `systemd-analyze verify` of every unit shipped;
# 4. as the service user `fieldsync`, make a server store in /var/lib/fieldsync; then
#    run packaging/quickstart.sh from the installed binaries (FIELDSYNC_INSTALLED=1): HQ
#    init, offices and tokens, three devices init and enroll, cases, sync on loopback,
#    a conflict settled, the same case on every node;
# 5. purge the packages: the user's data stays, nothing of the packages does.
# /proc is mounted in the root while it runs and always unmounted at the end (trap).
# Prints the time of each phase; tests/integration/test_install.py runs it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
debdir=${1:?usage: install-test.sh DEBDIR [WORKDIR]}
work=${2:-$top/build/install-test}
suite=bookworm
# what the test itself needs in the root besides the base system: systemd-analyze, man,
# and the quickstart's tools (strings, python3 for its JSON)
include=systemd,man-db,ca-certificates,binutils,python3
root=$work/root

if [ "$(id -u)" -ne 0 ]; then
	echo "install-test: must run as root (debootstrap, chroot, mount)" >&2
	exit 1
fi
debdir=$(cd "$debdir" && pwd)
shopt -s nullglob
debs=("$debdir"/fieldsync-*.deb)
[ ${#debs[@]} -gt 0 ] || {
	echo "install-test: no fieldsync-*.deb in $debdir" >&2
	exit 1
}

# The Debian mirror apt uses here: deb822 sources first, then a one-line sources.list.
mirror() {
	local f u
	if [ -n "${FIELDSYNC_MIRROR:-}" ]; then
		echo "$FIELDSYNC_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		u=$(awk '/^URIs:/ {u = $2} /^Suites:/ && / '"$suite"'( |$)/ {print u; exit}' "$f")
		if [ -n "$u" ]; then
			echo "$u"
			return
		fi
	done
	u=$(awk '$1 == "deb" && $3 == "'"$suite"'" {print $2; exit}' /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list 2>/dev/null || true)
	echo "${u:-http://deb.debian.org/debian}"
}

t0=$(date +%s)
phase_start=$t0
phase() {
	local now
	now=$(date +%s)
	printf 'install-test: %-44s %4ds\n' "$1" $((now - phase_start))
	phase_start=$now
}

mounted=()
cleanup() {
	local m
	for m in "${mounted[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP # so that the EXIT trap unmounts on a signal too

mkdir -p "$work"
work=$(cd "$work" && pwd) # debootstrap takes absolute paths only
root=$work/root
url=$(mirror)
tarball=$work/$suite-minbase-$(echo "$include" | md5sum | cut -c1-8).tgz

# never delete a root something is still mounted in
if grep -q " $root/" /proc/mounts; then
	grep " $root/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
fi
rm -rf "$root"
if [ ! -s "$tarball" ]; then
	debootstrap --variant=minbase --include="$include" --make-tarball="$tarball.part" \
		"$suite" "$work/tarball-work" "$url" >"$work/debootstrap-download.log" 2>&1 || {
		tail -20 "$work/debootstrap-download.log" >&2
		echo "install-test: debootstrap could not download $suite from $url" >&2
		exit 1
	}
	mv "$tarball.part" "$tarball"
	rm -rf "$work/tarball-work"
	phase "download the base system ($url)"
fi
debootstrap --variant=minbase --include="$include" --unpack-tarball="$tarball" "$suite" \
	"$root" "$url" >"$work/debootstrap.log" 2>&1 || {
	tail -20 "$work/debootstrap.log" >&2
	echo "install-test: debootstrap failed (log: $work/debootstrap.log)" >&2
	exit 1
}
phase "debootstrap $suite into $root"

mount -t proc proc "$root/proc"
mounted+=("$root/proc")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# the same suites as this machine (updates and security too), else debootstrap's one line
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
	: >"$root/etc/apt/sources.list"
fi
# no service may start inside the chroot
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
cp "$top/packaging/quickstart.sh" "$root/tmp/quickstart.sh"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

in_root apt-get update -q >"$work/apt.log" 2>&1 || {
	cat "$work/apt.log" >&2
	exit 1
}
inroot_debs=()
for deb in "${debs[@]}"; do
	inroot_debs+=("/tmp/debs/$(basename "$deb")")
done
in_root apt-get install -y -q --no-install-recommends "${inroot_debs[@]}" >>"$work/apt.log" 2>&1 || {
	tail -30 "$work/apt.log" >&2
	echo "install-test: apt-get install of the packages failed" >&2
	exit 1
}
phase "apt-get install ${#debs[@]} packages"

fail() {
	echo "install-test: FAILED: $*" >&2
	exit 1
}
in_root test -x /usr/bin/fieldsync-agent || fail "no /usr/bin/fieldsync-agent"
in_root test -x /usr/sbin/fieldsync-server || fail "no /usr/sbin/fieldsync-server"
in_root fieldsync-agent --version >/dev/null || fail "fieldsync-agent --version"
in_root fieldsync-server --version >/dev/null || fail "fieldsync-server --version"
in_root getent passwd fieldsync >/dev/null || fail "no user fieldsync"
state=$(in_root stat -c '%a %U %G' /var/lib/fieldsync) || fail "no /var/lib/fieldsync"
[ "$state" = "700 fieldsync fieldsync" ] || fail "/var/lib/fieldsync is '$state'"
in_root test -d /etc/fieldsync || fail "no /etc/fieldsync"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' fieldsync-agent fieldsync-server \
	fieldsync-common)
for f in "$top"/packaging/conf/*.conf; do
	in_root test -f "/etc/fieldsync/$(basename "$f")" || fail "no /etc/fieldsync/$(basename "$f")"
	grep -q "^ /etc/fieldsync/$(basename "$f") " <<<"$conffiles" ||
		fail "/etc/fieldsync/$(basename "$f") is not a conffile"
done
for page in "$top"/docs/man/*.[1-8]; do
	name=$(basename "$page")
	sec=${name##*.}
	got=$(in_root man -w "$sec" "${name%.*}") || fail "man -w $sec ${name%.*}"
	echo "install-test: man -w ${name%.*}($sec): $got"
done
units=0
for unit in "$top"/packaging/systemd/*.service "$top"/packaging/systemd/*.socket \
	"$top"/packaging/systemd/*.timer; do
	path=/lib/systemd/system/$(basename "$unit")
	in_root test -f "$path" || fail "no $path"
	out=$(in_root systemd-analyze verify "$path" 2>&1) || fail "systemd-analyze verify $path: $out"
	[ -z "$out" ] || fail "systemd-analyze verify $path: $out"
	echo "install-test: systemd-analyze verify $path: clean"
	units=$((units + 1))
done
[ "$units" -gt 0 ] || echo "install-test: no systemd units in packaging/systemd yet; none verified"
phase "check files, user, man pages, units"

# the service user can keep a server in the state directory (mode 0700, its own)
as_service() { in_root runuser -u fieldsync -- "$@"; }
as_service fieldsync-server --home /var/lib/fieldsync/hq init --org "Install test" \
	--listen 127.0.0.1:0 >"$work/service-user.log" 2>&1 || fail "init as user fieldsync: $(cat "$work/service-user.log")"
as_service fieldsync-server --home /var/lib/fieldsync/hq office add ELP --name "El Paso" \
	>>"$work/service-user.log" 2>&1 || fail "office add as user fieldsync"
key=$(in_root stat -c '%a %U' /var/lib/fieldsync/hq.key) || fail "no key file"
[ "$key" = "600 fieldsync" ] || fail "/var/lib/fieldsync/hq.key is '$key'"
phase "server init as the service user"

in_root env FIELDSYNC_INSTALLED=1 bash /tmp/quickstart.sh >"$work/quickstart.log" 2>&1 || {
	tail -40 "$work/quickstart.log" >&2
	fail "the quickstart round from the installed files (log: $work/quickstart.log)"
}
grep -q 'identical on all four nodes' "$work/quickstart.log" || fail "quickstart did not converge"
phase "quickstart round from the installed files"

in_root mkdir -p /var/lib/fieldsync/keep
in_root touch /var/lib/fieldsync/keep/store
in_root apt-get purge -y -q fieldsync-agent fieldsync-server fieldsync-common >>"$work/apt.log" 2>&1 ||
	fail "apt-get purge"
in_root test ! -e /usr/bin/fieldsync-agent || fail "purge left /usr/bin/fieldsync-agent"
in_root test ! -e /usr/sbin/fieldsync-server || fail "purge left /usr/sbin/fieldsync-server"
in_root test -f /var/lib/fieldsync/keep/store || fail "purge deleted data in /var/lib/fieldsync"
for f in "$top"/packaging/conf/*.conf; do
	in_root test ! -e "/etc/fieldsync/$(basename "$f")" || fail "purge left /etc/fieldsync/$(basename "$f")"
done
phase "purge (data in /var/lib/fieldsync kept)"

cleanup
mounted=()
trap - EXIT
rm -rf "$root" # the tarball stays for the next run
echo "install-test: OK in $(($(date +%s) - t0))s"
