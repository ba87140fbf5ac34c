#!/usr/bin/env bash
# fieldsync quickstart: install dependencies, build, and show
#  1. a full offline session of case work on a fresh field-office node (encrypted store, users,
#     cases, notes, search, history, audit trail, verification, nothing in clear on disk);
#  2. HQ: the server's CA, two field offices, a server on loopback with mutual TLS, and
#     devices of both offices enrolled with one-time tokens, each checking its channel;
#  3. a full sync round: two devices of El Paso and one of San Diego (given a share of a case)
#     edit offline, HQ edits too, everyone syncs, a real conflict is shown and settled, and
#     the final case is identical on every node.
# FIELDSYNC_INSTALLED=1 runs the same round on the installed packages (/usr/bin/fieldsync-agent,
# /usr/sbin/fieldsync-server) without building anything: packaging/install-test.sh does so.
set -euo pipefail

if [ -n "${FIELDSYNC_INSTALLED:-}" ]; then
	agent=/usr/bin/fieldsync-agent
	server=/usr/sbin/fieldsync-server
else
	top=$(cd "$(dirname "$0")/.." && pwd)
	cd "$top"
	bash packaging/install-deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j "$(nproc 2>/dev/null || echo 2)" --target fieldsync-agent fieldsync-server
	agent="$top/build/agent/fieldsync-agent"
	server="$top/build/server/fieldsync-server"
fi
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
if strings -a "$FIELDSYNC_HOME"/* | grep -q -i -F -e 'port of entry' -e 'R. Doe' -e 'secondary inspection' \
	-e 'statement signed' -e 'SQLite format'; then
	echo "quickstart: case text found in clear on disk" >&2
	exit 1
fi
echo "no case text, no key, no SQLite header in clear"

printf '\n\033[1m== HQ: the organisation CA, offices, mutual TLS, enrollment ==\033[0m\n'
hq="$demo/hq"
# HQ's commands act as the server's own identity (its key file): the office user exported
# above for the agent is not an HQ staff account
hqcmd() { env -u FIELDSYNC_USER -u FIELDSYNC_PASSPHRASE "$server" --home "$hq" "$@"; }
hqrun() { printf '\n\033[1m$ fieldsync-server %s\033[0m\n' "$*"; hqcmd "$@"; }
hqrun init --org "Office of Professional Responsibility" --listen 127.0.0.1:0
elp_token=$(hqcmd office add ELP --name "El Paso field office")
sdg_token=$(hqcmd office add SDG --name "San Diego field office")
echo "ELP token: ${elp_token:0:24}...  SDG token: ${sdg_token:0:24}..."
env -u FIELDSYNC_USER -u FIELDSYNC_PASSPHRASE "$server" --home "$hq" run --listen 127.0.0.1:0 2>"$demo/hq.log" &
hq_pid=$!
trap 'kill $hq_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$demo/hq.log" | grep -o '[0-9]*$' || true)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$demo/hq.log"; echo "quickstart: the server did not start" >&2; exit 1; }
echo "server listening on 127.0.0.1:$port"
run enroll --server "https://127.0.0.1:$port" --token "$elp_token"
run status

laptop="$demo/elp-laptop" desk="$demo/elp-desk" sdg="$demo/sdg-laptop"
as_desk() { FIELDSYNC_HOME="$desk" FIELDSYNC_USER=dave FIELDSYNC_PASSPHRASE='dave: a long passphrase' "$@"; }
as_sdg() { FIELDSYNC_HOME="$sdg" FIELDSYNC_USER=carol FIELDSYNC_PASSPHRASE='carol: a long passphrase' "$@"; }
desk() { printf '\n\033[1m[elp-desk] $ fieldsync-agent %s\033[0m\n' "$*"; as_desk "$agent" "$@"; }
sdg() { printf '\n\033[1m[sdg-laptop] $ fieldsync-agent %s\033[0m\n' "$*"; as_sdg "$agent" "$@"; }

desk init --office ELP --user dave
desk enroll --server "https://127.0.0.1:$port" --token "$(hqcmd office token ELP)"
sdg init --office SDG --user carol
step "enroll with El Paso's token on the San Diego device (refused: wrong office)"
as_sdg "$agent" enroll --server "https://127.0.0.1:$port" --token "$(hqcmd office token ELP)" || true
sdg enroll --server "https://127.0.0.1:$port" --token "$sdg_token"
hqrun office list

printf '\n\033[1m== Sync: the offline work of the laptop reaches HQ and the second device ==\033[0m\n'
run sync
desk sync
desk case list
hqrun case list
hqrun case share "$id" SDG
sdg sync

printf '\n\033[1m== Offline on every side, then sync ==\033[0m\n'
run case edit "$id" --set status=investigation --set priority=2
desk case edit "$id" --set status=review
desk note add "$id" --text "Plate numbers matched to the officer's shifts."
sdg note add "$id" --text "San Diego: the same vehicles crossed here twice."
hqrun case edit "$id" --set disposition=policy-failure
run sync
desk sync
sdg sync
run sync
desk conflicts
desk conflicts "$id"
desk conflicts resolve "$id" fields/status --value investigation
desk sync
run sync
sdg sync
run case show "$id"

printf '\n\033[1m== The same case everywhere ==\033[0m\n'
head_of() { "$@" --json case show "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["head"], d["fields"]["status"], len(d["notes"]), len(d["conflicts"]))'; }
laptop_state=$(head_of "$agent")
desk_state=$(as_desk head_of "$agent")
sdg_state=$(as_sdg head_of "$agent")
hq_state=$(head_of hqcmd)
printf 'elp-laptop  %s\nelp-desk    %s\nsdg-laptop  %s\nHQ          %s\n' "$laptop_state" \
	"$desk_state" "$sdg_state" "$hq_state"
if [ "$laptop_state" != "$desk_state" ] || [ "$laptop_state" != "$sdg_state" ] ||
	[ "$laptop_state" != "$hq_state" ]; then
	echo "quickstart: the nodes disagree after sync" >&2
	exit 1
fi
echo "identical on all four nodes: head, status, notes, no conflicts left"
run status

kill -TERM "$hq_pid"
wait "$hq_pid" || true
trap - EXIT
printf '\n\033[1mServer log:\033[0m\n'
cat "$demo/hq.log"
hqrun audit log

echo
echo "Done.  Everything stays in $demo (remove it with: rm -rf $demo)"
