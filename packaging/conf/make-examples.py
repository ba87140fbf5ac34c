#!/usr/bin/env python3
"""Write packaging/conf/agent.conf and server.conf from the programs' own table of keys
(`config show --json`): every key commented out at its default, with its help line, option
and environment variable.  Run after adding a key (agent/conf.c, server/conf.c):

    python3 packaging/conf/make-examples.py build/agent/fieldsync-agent build/server/fieldsync-server
"""
import json
import os
import subprocess
import sys
import textwrap

HEAD = """# /etc/fieldsync/{name}.conf - the configuration of fieldsync-{name} (fieldsync.conf(5)).
#
# Every key is shown commented out at its default.  The value that counts is the
# first of: the command line, the environment (the FIELDSYNC_... variable named with
# each key), this file, the default.  After an edit: fieldsync-{name} config check
# ('config show' prints every value and where it came from)."""


def example(binary, name):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "FIELDSYNC_CONFIG": "/dev/null"}
    doc = json.loads(subprocess.run([binary, "--json", "config", "show"], check=True, env=env,
                                    capture_output=True, text=True).stdout)
    out, section = [HEAD.format(name=name)], None
    for k in doc["keys"]:
        if k["section"] != section:
            section = k["section"]
            out += ["", "[%s]" % section]
        out.append("")
        text = "%s%s (%s; %s)." % (k["help"][0].upper(), k["help"][1:], k["option"], k["env"])
        out += ["# " + line for line in textwrap.wrap(text, 88)]
        out.append(("#%s = %s" % (k["name"], k["default"] or "")).rstrip())
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for binary, name in zip(sys.argv[1:3], ("agent", "server")):
        with open(os.path.join(here, name + ".conf"), "w") as f:
            f.write(example(binary, name))


if __name__ == "__main__":
    main()
