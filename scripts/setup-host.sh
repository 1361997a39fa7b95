#!/bin/bash
# scripts/setup-host.sh [--no-vm] - install what building and testing claudine
# needs on a Debian 12 host. Idempotent: installs only what is missing.
#   apt:    build-essential pkg-config debhelper dpkg-dev fakeroot lintian curl
#           ca-certificates python3 python3-prometheus-client (the metrics tests
#           parse the endpoint's text with it; pip when python3 on PATH is not
#           Debian's), nodejs npm when no npm is on PATH (scripts/fetch-claude.sh
#           installs the Claude Code CLI with it), and for the VM tests
#           qemu-system-x86 mmdebstrap e2fsprogs (skipped with --no-vm)
#   Rust:   rustup (minimal profile + rustfmt, clippy) into ~/.cargo if cargo is
#           not on PATH; the other scripts add ~/.cargo/bin to PATH themselves.
# Uses sudo for apt-get when not run as root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

vm=1
case ${1:-} in
    --no-vm) vm=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-vm]" >&2; exit 2 ;;
esac

pkgs=(build-essential pkg-config debhelper dpkg-dev fakeroot lintian curl ca-certificates
    python3 python3-prometheus-client)
((vm)) && pkgs+=(qemu-system-x86 mmdebstrap e2fsprogs)
# Gate npm on the command, not the package: NodeSource's nodejs ships its own
# npm and conflicts with Debian's.
command -v npm >/dev/null || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    say "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
    say "host packages: all present"
fi

# A python3 on PATH that is not Debian's (pyenv, a venv) does not see the
# Debian module: give it its own copy.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
    say "python3 -m pip install prometheus-client (for $(command -v python3))"
    python3 -m pip install --quiet prometheus-client >&2
    python3 -c 'import prometheus_client' || die "python3 cannot import prometheus_client"
fi

if ! command -v cargo >/dev/null; then
    say "installing Rust with rustup (minimal profile, rustfmt, clippy)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        | sh -s -- -y --no-modify-path --profile minimal --component rustfmt,clippy >&2
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    command -v cargo >/dev/null || die "rustup finished but cargo is not on PATH"
elif command -v rustup >/dev/null; then
    # An existing toolchain may lack the components the checks need.
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" \
            || { say "rustup component add $c"; rustup component add "$c" >&2; }
    done
fi
say "$(cargo --version)"
