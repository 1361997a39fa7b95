#!/bin/bash
# tests/vm/run.sh - claudine's VM acceptance suite, host side.
#
#   tests/vm/run.sh                    build the .deb, boot the test VM once, run
#                                      tests/vm/guest/suite.sh in it; exit non-zero
#                                      on any failure
#   tests/vm/run.sh --only "basic env" run only these suite sections (after install)
#   tests/vm/run.sh --bench            run tests/vm/guest/bench.sh instead (figures)
#
# Environment:
#   CLAUDINE_DEB     use this .deb instead of building one (scripts/build-deb.sh)
#   CLAUDINE_VM_ARTIFACTS  where guest artifacts go (default build/vm-suite or build/vm-bench)
#   BENCH_*          passed to the guest (e.g. BENCH_ONLY=sched: only the scheduling
#                    comparison with pueue, see tests/vm/guest/bench_sched.sh)
#   PUEUE_DIR        --bench: a dir with bin/pueue and bin/pueued (default: scripts/fetch-pueue.sh)
#   CLAUDE_BIN       the claude CLI for the suite's claude section (default: scripts/fetch-claude.sh)
#   TESTBED_*        knobs of tests/vm/testbed.sh (TESTBED_ACCEL, TESTBED_MEM, TESTBED_TIMEOUT, ...)
#
# The first run builds the VM image (root, ~1 min, cached in /var/cache/claudine-testbed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

mode=suite only=
while [[ $# -gt 0 ]]; do
    case $1 in
        --bench) mode=bench ;;
        --only) only=${2:?--only needs a list of sections}; shift ;;
        --only=*) only=${1#--only=} ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--bench] [--only SECTIONS]" >&2; exit 2 ;;
    esac
    shift
done

guest=$CLAUDINE_ROOT/tests/vm/guest
stage=$(mktemp -d "${TMPDIR:-/tmp}/claudine-vm.XXXXXX")
trap 'rm -rf "$stage"' EXIT

deb=${CLAUDINE_DEB:-}
if [[ -z $deb ]]; then
    say "building the .deb (scripts/build-deb.sh)"
    deb=$("$CLAUDINE_ROOT/scripts/build-deb.sh")
fi
[[ -f $deb ]] || die "no such .deb: $deb"
# The guest installs /mnt/testbed/claudine_*.deb.
name=$(basename "$deb"); [[ $name == claudine_*.deb ]] || name=claudine_0-local_amd64.deb
cp "$deb" "$stage/$name"
files=("$guest/lib.sh" "$guest/foundation.sh" "$guest/monitoring.sh" "$guest/autoscale.sh" "$guest/claude.sh" "$guest/suspend.sh" "$guest/protect.sh" "$guest/worktree.sh" "$guest/reboot.sh" "$guest/alloc.py" "$stage/$name")
if [[ $mode == suite || ${BENCH_ONLY:-claude} == claude ]]; then
    # The real claude CLI (pinned, from npm; scripts/fetch-claude.sh) and the
    # fake Messages API it talks to in the guest (examples/fake_anthropic).
    say "the claude CLI (scripts/fetch-claude.sh) and the fake Messages API"
    claude_bin=${CLAUDE_BIN:-$("$CLAUDINE_ROOT/scripts/fetch-claude.sh")} || die "no claude CLI for the guest"
    cp -L "$claude_bin" "$stage/claude" || die "cannot copy $claude_bin"
    (cd "$CLAUDINE_ROOT" && cargo build --quiet --locked --release --example fake_anthropic) \
        || die "cannot build the fake Messages API"
    cp "${CARGO_TARGET_DIR:-$CLAUDINE_ROOT/target}/release/examples/fake_anthropic" "$stage/fake_anthropic"
    files+=("$stage/claude" "$stage/fake_anthropic")
fi
if [[ $mode == suite ]]; then
    # A claudined with fault-injection points (cargo feature fault-injection,
    # src/daemon/fault.rs) for the suite's fault section only; the .deb never
    # has them. A debug build: it reuses the dependencies `cargo test` built.
    say "building claudined with fault injection (for the fault section)"
    (cd "$CLAUDINE_ROOT" && cargo build --quiet --locked --features fault-injection --bin claudined) \
        || die "cannot build the fault-injection claudined"
    cp "${CARGO_TARGET_DIR:-$CLAUDINE_ROOT/target}/debug/claudined" "$stage/claudined-fault"
    files+=("$stage/claudined-fault")
fi
if [[ $mode == bench ]]; then
    # The sampler natively, over synthetic cgroup directories on tmpfs.
    say "sampler, natively (examples/sampler_bench.rs)"
    (cd "$CLAUDINE_ROOT" && cargo run --quiet --release --locked --example sampler_bench -- \
        /dev/shm/claudine-sampler-bench 100 200) || die "the sampler benchmark failed"
    say "the Claude Code stream parser, natively (examples/stream_bench.rs)"
    (cd "$CLAUDINE_ROOT" && cargo run --quiet --release --locked --example stream_bench) \
        || die "the stream parser benchmark failed"
    say "one admission decision with 10,000 queued, natively (examples/sched_bench.rs)"
    (cd "$CLAUDINE_ROOT" && cargo run --quiet --release --locked --example sched_bench -- 10000 50 100) \
        || die "the scheduler benchmark failed"
    # pueue, the queue the scheduling comparison runs next to claudine.
    pueue_dir=${PUEUE_DIR:-$("$CLAUDINE_ROOT/scripts/fetch-pueue.sh")} || die "no pueue for the guest"
    cp "$pueue_dir/bin/pueue" "$pueue_dir/bin/pueued" "$stage/" || die "no pueue binaries in $pueue_dir/bin"
    files+=("$stage/pueue" "$stage/pueued" "$guest/bench_sched.sh" "$guest/bench_claude.sh")
fi
# Settings for the guest scripts, which source suite.env.
{
    [[ -n $only ]] && printf 'SUITE_ONLY=%q\n' "$only"
    for v in ${!BENCH_@}; do printf '%s=%q\n' "$v" "${!v}"; done
} > "$stage/suite.env"
files+=("$stage/suite.env")

export TESTBED_ARTIFACTS=${CLAUDINE_VM_ARTIFACTS:-$CLAUDINE_ROOT/build/vm-$mode}
# The bench's scheduling section alone takes ~15 min under emulation.
# The bench guest has 6 GiB: with the suite's 2 GiB the 1 GiB reserve would
# leave the tasks half the host, and the scheduling comparison would measure
# the reserve, not the scheduler (see bench_sched.sh).
if [[ $mode == bench ]]; then export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-3600} TESTBED_MEM=${TESTBED_MEM:-6144}
else export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-3000}; fi   # the reboot section adds a boot (2-4 min under a loaded TCG host)
# The suite's reboot section reboots the guest once (its disk kept; the suite
# resumes after the boot): tests/vm/README.md.
if [[ $mode == suite ]]; then export TESTBED_REBOOTS=${TESTBED_REBOOTS:-2}; fi
rm -rf "$TESTBED_ARTIFACTS"
say "booting the test VM: $mode with $name (artifacts: $TESTBED_ARTIFACTS)"
t0=$SECONDS
rc=0
"$CLAUDINE_ROOT/tests/vm/testbed.sh" run "$guest/$mode.sh" "${files[@]}" || rc=$?
case $rc in
    0)   say "VM $mode: OK ($((SECONDS - t0)) s)" ;;
    124) say "VM $mode: TIMEOUT after $((SECONDS - t0)) s (TESTBED_TIMEOUT=$TESTBED_TIMEOUT)" ;;
    125) say "VM $mode: the test VM itself failed (see the console tail above)" ;;
    *)   if [[ $mode == suite ]]; then say "VM suite: $rc check(s) FAILED ($((SECONDS - t0)) s)"
         else say "VM bench: exit $rc ($((SECONDS - t0)) s)"; fi ;;
esac
exit "$rc"
