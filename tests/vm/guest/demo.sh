#!/bin/bash
# tests/vm/guest/demo.sh - the short demo of scripts/try-in-vm.sh. Runs as root in
# the throw-away VM: installs the .deb, makes a user, and shows what a user does.
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 125
# shellcheck source=lib.sh
source ./lib.sh
exec 2>&1

# run CMD...: show the command, then its output.
run() { printf '\n$ %s\n' "$*"; "$@"; }
# as_demo CMD...: show and run a command as the user "demo" from its home.
as_demo() { printf '\ndemo$ %s\n' "$*"; (cd /home/demo && runuser -u demo -- "$@"); }

printf '$ apt-get install -y /mnt/testbed/%s\n' "$(basename /mnt/testbed/claudine_*.deb)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q /mnt/testbed/claudine_*.deb 2>&1 | grep -E '^(Setting up|Created)'
poll 60 daemon_answers || { echo "claudined does not answer"; journalctl -u claudine --no-pager -n 30; exit 1; }
run systemctl status --no-pager claudine | head -12
run useradd -m -s /bin/bash -G claudine demo

id=$(cd /home/demo && runuser -u demo -- claudinectl submit -- \
    sh -c 'echo "hello from $(id -un) in $(pwd)"; echo "cgroup: $(cat /proc/self/cgroup)"; sleep 2; echo done')
printf '\ndemo$ claudinectl submit -- sh -c "echo hello ...; sleep 2; echo done"\n%s\n' "$id"
as_demo claudinectl submit --priority P0 -- sleep 30
as_demo claudinectl list
as_demo claudinectl wait "$id"; echo "(wait exit code: $?)"
as_demo claudinectl logs "$id"
as_demo claudinectl status "$id"
run systemctl status --no-pager claudine.slice | head -12
run journalctl --no-pager -o short -u claudine CLAUDINE_TASK_ID="$id"
as_demo claudinectl list --all
exit 0
