#!/usr/bin/env bash
# fieldsync quickstart: install dependencies, build, and show a full offline session of case
# work on a fresh field-office node (encrypted store, users, cases, notes, search, history,
# audit trail, verification, and a look at the disk to show nothing is in clear).
#
# Sync with HQ (fieldsync-server, mutual TLS) is not built yet: this session is offline only.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target fieldsync-agent

agent="$top/build/agent/fieldsync-agent"
demo=$(mktemp -d /tmp/fieldsync-quickstart-XXXXXX)
export FIELDSYNC_HOME="$demo/elp-laptop"
# Passphrases come from the environment here so the demo runs unattended; an investigator
# would be asked on the terminal.
export FIELDSYNC_USER=alice FIELDSYNC_PASSPHRASE='alice: a long passphrase'

step() { printf '\n\033[1m$ fieldsync-agent %s\033[0m\n' "$*"; }
run() { step "$*"; "$agent" "$@"; }

echo "Node directory: $FIELDSYNC_HOME"
run init --office ELP --user alice
FIELDSYNC_NEW_PASSPHRASE='bob: another long passphrase' run user add bob --role investigator
run user list

step "case new --title 'Bribery at the port of entry' --category bribery --set priority=1 ..."
id=$("$agent" case new --title 'Bribery at the port of entry' --category bribery \
	--set priority=1 --set received_at=2026-11-02 --set subject_name='Officer R. Doe')
echo "$id"

cat >"$demo/narrative.md" <<'TXT'
On 2 November a confidential source reported that an officer at the port of entry accepted cash to wave vehicles through secondary inspection. The source provided dates and plate numbers for three crossings. Surveillance footage for those dates has been requested.
TXT
run case edit "$id" --set status=open --set assignee=bob --narrative-file "$demo/narrative.md"
shred -u "$demo/narrative.md" 2>/dev/null || rm -f "$demo/narrative.md"
FIELDSYNC_USER=bob FIELDSYNC_PASSPHRASE='bob: another long passphrase' \
	run note add "$id" --text "Interviewed the source at the field office; statement signed."
run case new --title 'Unauthorized database queries' --category misuse-of-systems
run case show "$id"
run case list
run case search "secondary inspection"
run case history "$id"
run status
run check
run audit log

printf '\n\033[1mOn disk (strings over the node directory finds no case text):\033[0m\n'
ls -la "$FIELDSYNC_HOME"
if strings -a "$FIELDSYNC_HOME"/* | grep -q -i -e 'port of entry' -e 'Doe' -e 'SQLite format'; then
	echo "quickstart: case text found in clear on disk" >&2
	exit 1
fi
echo "no case text, no key, no SQLite header in clear"
echo
echo "Done.  The node stays in $demo (remove it with: rm -rf $demo)"
