"""The dependency direction of the tree, checked over its #include lines (docs/ARCHITECTURE.md).

shared/ is one library in layers, lowest first: base, store, case, pki, audit, node, sync.  A
file of a layer includes headers of its own layer or lower ones, always by their path under
shared/ ("store/odb.h"), never of cli/, agent/ or server/.  cli/ (the command layer) stands on
shared/ only.  agent/ and server/ stand on cli/ and shared/, and never include, or compile,
each other's files.  Tests and test tools are not held to this.

usage: check_layers.py ROOT          exit 1 naming every include that runs the wrong way
       check_layers.py --self-test   the checker on small trees made to pass and to fail
"""
import os
import re
import shutil
import sys
import tempfile

LAYERS = ["base", "store", "case", "pki", "audit", "node", "sync"]
PROGRAMS = {"agent": "server", "server": "agent"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(root, top):
    for d, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def check_file(root, path):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    top = parts[0]
    errors = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for inc in INCLUDE.findall(text):
        where = "%s includes \"%s\"" % (rel, inc)
        if "/" in inc:
            layer = inc.split("/")[0]
            if layer not in LAYERS or not os.path.exists(os.path.join(root, "shared", inc)):
                errors.append("%s: not a header of shared/" % where)
            elif top == "shared" and LAYERS.index(layer) > LAYERS.index(parts[1]):
                errors.append("%s: layer %s reaches up into %s" % (where, parts[1], layer))
            continue
        # a bare name: the file's own folder, or for the programs the command layer
        own = os.path.exists(os.path.join(os.path.dirname(path), inc))
        if top == "shared":
            if not own:
                errors.append("%s: a shared header is included by its path under shared/" % where)
            elif os.path.dirname(path) != os.path.join(root, "shared", parts[1]):
                errors.append("%s: outside a layer folder" % where)
            else:
                errors.append("%s: include it as \"%s/%s\"" % (where, parts[1], inc))
        elif own:
            continue
        elif top in PROGRAMS and os.path.exists(os.path.join(root, "cli", inc)):
            continue
        elif top in PROGRAMS and os.path.exists(os.path.join(root, PROGRAMS[top], inc)):
            errors.append("%s: %s/ never includes %s/" % (where, top, PROGRAMS[top]))
        else:
            errors.append("%s: no such header in %s/%s" %
                          (where, top, "" if top == "cli" else " or cli/"))
    return errors


def check_cmake(root):
    errors = []
    for prog, other in PROGRAMS.items():
        path = os.path.join(root, prog, "CMakeLists.txt")
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if re.search(r"\b%s/" % other, text):
                errors.append("%s/CMakeLists.txt compiles or includes files of %s/" % (prog, other))
    return errors


def check(root):
    errors = check_cmake(root)
    for top in ["shared", "cli", "agent", "server"]:
        for path in sources(root, top):
            errors += check_file(root, path)
    return errors


def self_test():
    def tree(files):
        d = tempfile.mkdtemp(prefix="layers-")
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        return d

    good = {"shared/base/buf.h": "", "shared/store/odb.h": '#include "base/buf.h"\n',
            "cli/cli.h": '#include "store/odb.h"\n', "agent/sync.c": '#include "cli.h"\n',
            "server/hq.h": '#include "cli.h"\n', "server/hq.c": '#include "hq.h"\n'}
    bad = [({"shared/base/buf.h": '#include "store/odb.h"\n', "shared/store/odb.h": ""},
            "reaches up"),
           ({"shared/base/buf.h": "", "shared/base/err.h": '#include "buf.h"\n'},
            'include it as "base/buf.h"'),
           ({"agent/sync.h": "", "server/hq.c": '#include "sync.h"\n'}, "never includes"),
           ({"server/x.h": "", "agent/a.c": '#include "x.h"\n'}, "never includes"),
           ({"cli/cli.h": '#include "hq.h"\n', "server/hq.h": ""}, "no such header"),
           ({"server/CMakeLists.txt": "add_library(s ${CMAKE_SOURCE_DIR}/agent/cli.c)\n"},
            "compiles or includes"),
           ({"agent/a.c": '#include "casefile.h"\n', "shared/case/casefile.h": ""},
            "no such header")]
    failures = 0
    d = tree(good)
    if check(d):
        print("self-test: a clean tree was refused: %s" % check(d))
        failures += 1
    shutil.rmtree(d)
    for files, expect in bad:
        d = tree(files)
        errors = check(d)
        if not any(expect in e for e in errors):
            print("self-test: %s not caught (%s): %s" % (expect, sorted(files), errors))
            failures += 1
        shutil.rmtree(d)
    print("%d passed, %d failed" % (len(bad) + 1 - failures, failures))
    return 1 if failures else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    errors = check(os.path.abspath(root))
    for e in errors:
        print(e)
    print("layers: %d wrong-way includes" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
