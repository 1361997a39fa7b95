#!/bin/bash
# scripts/fetch-pueue.sh - build pueue and pueued (the queue the benchmark
# compares claudine with) for the test guest, once, and print the directory
# that holds them (bin/pueue, bin/pueued) on stdout; everything else goes to
# stderr. So callers can do: dir=$(scripts/fetch-pueue.sh)
#
# `cargo install pueue --locked` from crates.io into a cache directory; an
# existing build of the right version is reused. The guest is Debian 12 like
# the build host (same glibc), so the binaries run there as they are.
#
# Environment:
#   PUEUE_VERSION  (default 4.0.4)
#   PUEUE_CACHE    where to install (default /var/cache/claudine-testbed/pueue-VERSION
#                  as root, else build/pueue-VERSION in the repository)
# Honours CARGO (cargo binary) and CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

version=${PUEUE_VERSION:-4.0.4}
if [[ -n ${PUEUE_CACHE:-} ]]; then dir=$PUEUE_CACHE
elif [[ $EUID -eq 0 ]]; then dir=/var/cache/claudine-testbed/pueue-$version
else dir=$CLAUDINE_ROOT/build/pueue-$version
fi

have() { [[ -x $dir/bin/$1 ]] && "$dir/bin/$1" --version 2>/dev/null | grep -qF " $version"; }
if have pueue && have pueued; then
    say "pueue $version: reusing $dir"
else
    command -v "${CARGO:-cargo}" >/dev/null || die "cargo not found: run scripts/setup-host.sh"
    say "cargo install pueue $version into $dir (a few minutes, once)"
    mkdir -p "$dir"
    "${CARGO:-cargo}" install pueue --version "$version" --locked --root "$dir" --force >&2 \
        || die "cargo install pueue $version failed"
    have pueue && have pueued || die "no working pueue $version in $dir/bin after the build"
    chmod -R a+rX "$dir"
fi
echo "$dir"
