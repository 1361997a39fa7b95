#!/bin/bash
# scripts/install.sh - build, install and start claudine on this Debian 12 machine
# (systemd as PID 1 required): installs the build dependencies, builds the .deb
# (scripts/build-deb.sh), installs it with apt-get, enables and starts
# claudine.service. Uses sudo for the root steps when not run as root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$CLAUDINE_ROOT"

if [[ ! -d /run/systemd/system ]]; then
    echo "This machine does not run systemd as PID 1 (PID 1 is '$(ps -o comm= -p 1 2>/dev/null || echo '?')')." >&2
    echo "claudine needs systemd (transient scopes, journald, cgroup v2) and cannot run here." >&2
    echo "Try it in a throw-away Debian 12 VM instead:  scripts/try-in-vm.sh" >&2
    exit 1
fi

"$CLAUDINE_ROOT/scripts/setup-host.sh" --no-vm
source "$CLAUDINE_ROOT/scripts/common.sh"   # a freshly installed ~/.cargo/bin
deb=$("$CLAUDINE_ROOT/scripts/build-deb.sh")
say "apt-get install $deb"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb"
as_root systemctl enable --now claudine
systemctl status --no-pager claudine || true
user=${SUDO_USER:-$(id -un)}
cat >&2 <<MSG

claudine is installed. To let a user submit tasks, add them to the group 'claudine'
(and to 'claudine-admin' to see and control everyone's tasks), then log in again:
    sudo adduser $user claudine
Then:  claudinectl submit -- echo hello && claudinectl list
Configuration: /etc/claudine/claudine.toml (then: sudo systemctl restart claudine)
MSG
