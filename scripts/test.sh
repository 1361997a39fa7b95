#!/bin/bash
# scripts/test.sh - THE test command (CI runs it through .ci/run).
#   1. scripts/setup-host.sh      host packages and Rust
#   2. cargo fmt --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. cargo test
#   5. scripts/build-deb.sh       the .deb, checked by lintian
#   6. tests/vm/run.sh            the acceptance suite in a Debian 12 VM with systemd
# Stops at the first failing step with a clear message; prints the time of each step.
# SKIP_VM=1 skips step 6 (e.g. on a machine without root for the image build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$CLAUDINE_ROOT"

declare -a TIMES=()
T_ALL=$SECONDS
report() {
    printf '\n%-44s %8s\n' "step" "seconds" >&2
    local t; for t in "${TIMES[@]}"; do printf '%s\n' "$t" >&2; done
    printf '%-44s %8d\n' "total" $((SECONDS - T_ALL)) >&2
}
# step NAME CMD...: run one step, time it, stop everything if it fails.
step() {
    local name=$1; shift
    local t0=$SECONDS rc=0
    printf '\n==> [%s] %s\n' "$name" "$*" >&2
    "$@" || rc=$?
    TIMES+=("$(printf '%-44s %8d  %s' "$name" $((SECONDS - t0)) "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
    if [[ $rc -ne 0 ]]; then
        report
        printf '\nFAILED: step "%s" (exit %d): %s\n' "$name" "$rc" "$*" >&2
        exit 1
    fi
}

step "setup host (scripts/setup-host.sh)" "$CLAUDINE_ROOT/scripts/setup-host.sh"
source "$CLAUDINE_ROOT/scripts/common.sh"    # pick up a freshly installed ~/.cargo/bin
step "cargo fmt --check" cargo fmt --check
step "cargo clippy --all-targets -D warnings" cargo clippy --all-targets -- -D warnings
step "cargo test" cargo test
build_deb() { DEB=$("$CLAUDINE_ROOT/scripts/build-deb.sh"); echo "built $DEB" >&2; }
step ".deb + lintian (scripts/build-deb.sh)" build_deb
if [[ ${SKIP_VM:-0} == 1 ]]; then
    TIMES+=("$(printf '%-44s %8s  %s' "VM acceptance suite" - "skipped (SKIP_VM=1)")")
else
    step "VM acceptance suite (tests/vm/run.sh)" env CLAUDINE_DEB="$DEB" "$CLAUDINE_ROOT/tests/vm/run.sh"
fi
report
echo "ALL OK" >&2
