# Sourced by the scripts in scripts/ and tests/vm/: repo root, PATH, logging.
# shellcheck shell=bash

# The repository root, from the location of this file (works from any cwd).
CLAUDINE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CLAUDINE_ROOT

# rustup installs cargo in ~/.cargo/bin, which a fresh (CI) shell may not have on PATH.
if [[ -d ${CARGO_HOME:-$HOME/.cargo}/bin ]]; then
    case ":$PATH:" in
        *":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
        *) PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
    esac
fi
# Some CI shells lack the sbin dirs, where dpkg and mke2fs tools live.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac
export PATH

say()  { printf '==> %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Run as root, or through sudo when not root.
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "this step needs root (and sudo is not installed): $*"
    fi
}
