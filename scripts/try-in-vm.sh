#!/bin/bash
# scripts/try-in-vm.sh [GUEST_SCRIPT] - try claudine without installing it here:
# builds the .deb, boots a throw-away Debian 12 VM (real systemd, cgroup v2,
# journald), installs the .deb in it and runs a short demo (tests/vm/guest/demo.sh:
# a new user submits a task, then list, logs, status), printing the output. Nothing
# persists: the VM disk is a snapshot. GUEST_SCRIPT replaces the demo (it runs as
# root in the VM with the .deb in /mnt/testbed).
# CLAUDINE_DEB=path uses an existing .deb. The first run builds the VM image (root).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

script=${1:-$CLAUDINE_ROOT/tests/vm/guest/demo.sh}
[[ -f $script ]] || die "no such guest script: $script"
"$CLAUDINE_ROOT/scripts/setup-host.sh"
source "$CLAUDINE_ROOT/scripts/common.sh"
deb=${CLAUDINE_DEB:-$("$CLAUDINE_ROOT/scripts/build-deb.sh")}
stage=$(mktemp -d "${TMPDIR:-/tmp}/claudine-try.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$deb" "$stage/claudine_$(basename "$deb" | sed 's/^claudine_//')"
say "booting a throw-away VM with $(basename "$deb")"
exec_rc=0
"$CLAUDINE_ROOT/tests/vm/testbed.sh" run "$script" "$CLAUDINE_ROOT/tests/vm/guest/lib.sh" "$stage"/claudine_*.deb || exec_rc=$?
exit $exec_rc
