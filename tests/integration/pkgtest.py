"""The Debian packages the packaging tests look at: prebuilt, or built once per build tree.

FIELDSYNC_DEBS=DIR names a directory holding fieldsync-{agent,server,common}_*.deb made by
packaging/build-debs.sh; without it the packages are built (packaging/build-debs.sh, with its
own build directory under the test build tree) into <build>/debs.  A lock file keeps two
tests that run at once from building into the same place.
"""
import fcntl
import glob
import os
import subprocess

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("FIELDSYNC_BUILD") or os.path.join(TOP, "build")
PACKAGES = ("fieldsync-agent", "fieldsync-server", "fieldsync-common")


def find(directory):
    debs = {}
    for name in PACKAGES:
        found = sorted(glob.glob(os.path.join(directory, name + "_*.deb")))
        if len(found) == 1:
            debs[name] = found[0]
    return debs


def debs():
    """{package name: path of its .deb}, all three, or an AssertionError saying why not."""
    given = os.environ.get("FIELDSYNC_DEBS")
    if given:
        found = find(given)
        if len(found) != len(PACKAGES):
            raise AssertionError("FIELDSYNC_DEBS=%s holds %s, not one .deb of each of %s" %
                                 (given, sorted(found), PACKAGES))
        return found
    out = os.path.join(BUILD, "debs")
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, "debs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = dict(os.environ, FIELDSYNC_DEB_BUILD=os.path.join(BUILD, "deb-build"))
        p = subprocess.run(["bash", os.path.join(TOP, "packaging", "build-debs.sh"), out],
                           capture_output=True, text=True, env=env, timeout=1800)
        if p.returncode != 0:
            raise AssertionError("packaging/build-debs.sh failed:\n%s%s" % (p.stdout, p.stderr))
        return find(out)


def version():
    """VERSION-REVISION of the packages, from packaging/debian/changelog."""
    with open(os.path.join(TOP, "packaging", "debian", "changelog")) as f:
        head = f.readline()
    return head.split("(", 1)[1].split(")", 1)[0]
