# tests/vm/guest/lib.sh - helpers for the guest-side suite (sourced, runs as root
# inside the test VM). Generic part: pass/fail/check/wait_until/summary. Then
# claudine helpers: run claudinectl as a user, read task fields, set the config.
# shellcheck shell=bash

PASSES=0
FAILS=0
FAILED=()
SUITE_T0=$(date +%s%N)
_TMP=$(mktemp -d /tmp/suite.XXXXXX)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
elapsed() { echo "$(( ($(date +%s%N) - SUITE_T0) / 1000000000 ))s"; }

section() { printf '\n=== %s  [t=%s]\n' "$*" "$(elapsed)"; }
pass() { PASSES=$((PASSES + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILS=$((FAILS + 1)); FAILED+=("[$CURRENT_SECTION] $*"); printf 'FAIL  %s\n' "$*"; }
note() { printf '      %s\n' "$*"; }
# Indented detail (e.g. the output of a failed command), at most N lines.
detail() { local n=${2:-8}; [[ -n $1 ]] && printf '%s\n' "$1" | tail -n "$n" | sed 's/^/      | /'; return 0; }

export CURRENT_SECTION=-
begin() { CURRENT_SECTION=$1; section "$1"; }

# check DESC CMD...: PASS if CMD exits 0; on failure show its output.
check() {
    local desc=$1; shift
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [[ $rc -eq 0 ]]; then pass "$desc"; else fail "$desc (exit $rc)"; detail "$out"; fi
    return $rc
}

# check_not DESC CMD...: PASS if CMD fails.
check_not() {
    local desc=$1; shift
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 ]]; then pass "$desc"; else fail "$desc (command succeeded)"; detail "$out"; fi
    [[ $rc -ne 0 ]]
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
    if [[ "$2" == "$3" ]]; then pass "$1"; return 0; fi
    fail "$1"; note "expected: $(printf %q "$2")"; note "actual:   $(printf %q "$3")"; return 1
}

# check_match DESC ERE TEXT: TEXT matches the extended regex (grep -E, multi-line).
check_match() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; return 0; fi
    fail "$1"; note "pattern /$2/ not found in:"; detail "$3"; return 1
}

# check_no_match DESC ERE TEXT
check_no_match() {
    if ! printf '%s\n' "$3" | grep -Eq -- "$2"; then pass "$1"; return 0; fi
    fail "$1"; note "pattern /$2/ unexpectedly found in:"; detail "$(printf '%s\n' "$3" | grep -E -- "$2")"; return 1
}

# poll TIMEOUT_S CMD...: run CMD until it succeeds (every 0.1-0.5 s) or the
# deadline passes. Silent; returns 0/1. WAITED_MS = time it took.
poll() {
    local timeout=$1; shift
    local t0 deadline delay=0.1
    t0=$(date +%s%N); deadline=$(( t0 + timeout * 1000000000 ))
    while :; do
        if "$@" >/dev/null 2>&1; then WAITED_MS=$(( ($(date +%s%N) - t0) / 1000000 )); return 0; fi
        (( $(date +%s%N) < deadline )) || break
        sleep $delay
        [[ $delay == 0.1 ]] && delay=0.2 || delay=0.5
    done
    WAITED_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    return 1
}

# wait_until TIMEOUT_S DESC CMD...: poll a real condition with a deadline; one
# PASS (with the time it took) or FAIL line. On failure shows CMD's last output.
wait_until() {
    local timeout=$1 desc=$2; shift 2
    if poll "$timeout" "$@"; then pass "$desc (${WAITED_MS} ms)"; return 0; fi
    fail "$desc (not within ${timeout}s)"
    detail "$("$@" 2>&1)"
    return 1
}

summary() {
    printf '\n=== SUMMARY: %d passed, %d failed, %s\n' "$PASSES" "$FAILS" "$(elapsed)"
    local f; for f in "${FAILED[@]}"; do printf '  failed: %s\n' "$f"; done
    rm -rf "$_TMP"
    return 0
}

# ---------------------------------------------------------------- claudine helpers
SOCK=/run/claudine/claudine.sock
STATE=/var/lib/claudine
CONF=/etc/claudine/claudine.toml
DB=$STATE/claudine.db   # used by suite.sh and bench.sh
export DB

home_of() { getent passwd "$1" | cut -d: -f6; }

# ctl USER ARGS...: run claudinectl as USER from USER's home directory.
# Sets OUT (stdout), ERR (stderr), RC (exit code). Never fails itself.
ctl() {
    local user=$1; shift
    RC=0
    if [[ $user == root ]]; then
        OUT=$(cd /root && claudinectl "$@" 2>"$_TMP/err") || RC=$?
    else
        OUT=$(cd "$(home_of "$user")" && runuser -u "$user" -- claudinectl "$@" 2>"$_TMP/err") || RC=$?
    fi
    ERR=$(<"$_TMP/err")
    return 0
}

# as USER CMD...: run any command as USER from USER's home (exit code passes through).
as() {
    local user=$1; shift
    if [[ $user == root ]]; then (cd /root && "$@")
    else (cd "$(home_of "$user")" && runuser -u "$user" -- "$@"); fi
}

# submit USER [SUBMIT OPTIONS] -- CMD...: prints the new id; returns 1 (and
# prints nothing) if claudinectl failed or did not print a bare number.
submit() {
    local user=$1; shift
    ctl "$user" submit "$@"
    if [[ $RC -eq 0 && $OUT =~ ^[0-9]+$ ]]; then echo "$OUT"; return 0; fi
    echo "submit as $user failed (exit $RC): stdout=$(printf %q "$OUT") stderr=$ERR" >&2
    return 1
}

# task_json ID: the task object as root sees it ({} if unknown).
task_json() { (cd /root && claudinectl status "$1" --json 2>/dev/null) || echo '{}'; }
# field ID JQ_FIELD: e.g. field 3 state  -> succeeded
field() { task_json "$1" | jq -r ".$2 // empty"; }
state_of() { field "$1" state; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
is_terminal_state() { [[ $1 =~ ^(succeeded|failed|cancelled|interrupted)$ ]]; }
is_terminal() { is_terminal_state "$(state_of "$1")"; }

# all_json: every task (root's view).
all_json() { (cd /root && claudinectl list --all --json 2>/dev/null); }

# all_terminal ID...: true once every given task is in a terminal state (one list call).
all_terminal() {
    local ids; ids=$(printf '%s\n' "$@" | jq -sc 'map(tonumber)')
    all_json | jq -e --argjson ids "$ids" '
        [.tasks[] | select(.id as $i | $ids | index($i))] as $t
        | ($t | length) == ($ids | length)
          and ($t | all(.state | test("^(succeeded|failed|cancelled|interrupted)$")))' >/dev/null
}

# count_state STATE ID...: how many of the given tasks are in STATE.
count_state() {
    local st=$1; shift
    local ids; ids=$(printf '%s\n' "$@" | jq -sc 'map(tonumber)')
    all_json | jq -r --arg st "$st" --argjson ids "$ids" \
        '[.tasks[] | select((.id as $i | $ids | index($i)) and .state == $st)] | length'
}
count_is() { [[ $(count_state "$2" "${@:3}") == "$1" ]]; }   # count_is N STATE ID...

daemon_active() { systemctl is-active -q claudine; }
main_pid() { systemctl show -P MainPID claudine; }
# A daemon that answers: systemd says active and the socket serves a request.
daemon_answers() {
    daemon_active && curl -sf --max-time 5 --unix-socket "$SOCK" http://localhost/v1/version >/dev/null
}

# journal_cursor: the current end of the journal, for journal_since.
journal_cursor() { journalctl -n 0 --show-cursor -q 2>/dev/null | sed -n 's/^-- cursor: //p'; }
# journal_since CURSOR [journalctl args]: claudine's journal after CURSOR.
journal_since() { local c=$1; shift; journalctl -q --no-pager -u claudine --after-cursor="$c" "$@"; }

# write_config LINE...: replace the config file with these lines.
write_config() { printf '%s\n' "# written by the test suite" "$@" > "$CONF"; }

# restart_daemon: restart and wait until the daemon answers. Returns 1 if it does not.
restart_daemon() {
    systemctl reset-failed claudine 2>/dev/null || true
    systemctl restart claudine || return 1
    poll 30 daemon_answers
}
start_daemon() {
    systemctl reset-failed claudine 2>/dev/null || true
    systemctl start claudine || return 1
    poll 30 daemon_answers
}

# scope_procs ID: the pids in the task's scope cgroup (empty if gone).
scope_procs() { cat "/sys/fs/cgroup/claudine.slice/claudine-task-$1.scope/cgroup.procs" 2>/dev/null; }
scope_active() { systemctl is-active -q "claudine-task-$1.scope"; }
scope_gone() { ! scope_active "$1" && [[ ! -d /sys/fs/cgroup/claudine.slice/claudine-task-$1.scope ]]; }

# ---------------------------------------------------------------- reboots
# A section may reboot the guest in the middle of the suite (its disk is kept:
# tests/vm/README.md). reboot_guest saves the counters and the variables it
# names on the 9p share, writes the phase marker (the section's name) and
# resets the machine; testbed-run runs the suite again after the boot, and
# suite.sh, finding the marker, restores them (resume_suite), skips the
# sections already run and calls the section again with RESUMED=1.
PHASE_FILE=/mnt/testbed/phase
SAVED_STATE=/mnt/testbed/suite-state.sh
RESUMED=0
REBOOT_MS=      # after a resume: host-clock ms from the reset to the suite running again

# share_clock_ms: the host's clock, read through the share (the mtime of a file
# just written on it): it runs across guest reboots, unlike the guest's own.
share_clock_ms() { : > /mnt/testbed/.clock && stat -c %.3Y /mnt/testbed/.clock | tr -d .; }

# reboot_guest SECTION VAR...: resets the machine at once (sysrq b: no process
# is told, nothing is synced or unmounted, as in a crash), or with
# REBOOT_HOW=orderly reboots it as `systemctl reboot` does. Never returns (a
# FAIL line if the reboot did not happen).
reboot_guest() {
    local s=$1; shift
    {
        declare -p PASSES FAILS FAILED SUITE_T0
        local v; for v in "$@"; do declare -p "$v"; done
    } | sed 's/^declare \(-[-a-zA-Z]*\)/declare -g \1/' > "$SAVED_STATE.tmp" && mv "$SAVED_STATE.tmp" "$SAVED_STATE" \
        || { fail "cannot save the suite's state on the share"; return 1; }
    echo "$s" > "$PHASE_FILE"
    if [[ ${REBOOT_HOW:-crash} == orderly ]]; then
        # An orderly reboot: systemd stops every unit (the task scopes too)
        # first, as `reboot` on a real host does.
        note "rebooting the guest (systemctl reboot) at t=$(elapsed)"
        systemctl reboot
        sleep 300
        fail "the guest did not reboot (systemctl reboot)"; rm -f "$PHASE_FILE"; return 1
    fi
    note "rebooting the guest (sysrq b) at t=$(elapsed)"
    # No sync: the share is written through (9p without a cache); what the
    # guest's disk holds is the section's business.
    echo b > /proc/sysrq-trigger
    sleep 60
    fail "the guest did not reboot (sysrq b)"; rm -f "$PHASE_FILE"; return 1
}

# resume_suite: if the guest was rebooted by reboot_guest, restore the state and
# print RESUME_AT (the section to call again); fails on a reboot nobody asked for.
resume_suite() {
    RESUME_AT=
    if [[ -f $PHASE_FILE ]]; then
        RESUME_AT=$(<"$PHASE_FILE")
        # The marker was written just before the reset: its mtime is the host's clock then.
        REBOOT_MS=$(( $(share_clock_ms) - $(stat -c %.3Y "$PHASE_FILE" | tr -d .) ))
        rm -f "$PHASE_FILE"     # one resume per reboot
        # shellcheck disable=SC1090
        source "$SAVED_STATE" || { RESUME_AT=; fail "cannot read the saved state $SAVED_STATE"; return 1; }
        section "resumed after the reboot (boot ${TESTBED_BOOT:-?}, $((REBOOT_MS / 1000)) s after the reset): back in section $RESUME_AT, $PASSES passed and $FAILS failed so far"
    elif (( ${TESTBED_BOOT:-1} > 1 )); then
        fail "the guest rebooted unexpectedly (boot $TESTBED_BOOT, no phase marker): stopping"
        return 1
    fi
}
