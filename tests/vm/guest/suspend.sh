# tests/vm/guest/suspend.sh - suspend and resume: a task's whole scope frozen
# and thawed (sourced by suite.sh after lib.sh).
# shellcheck shell=bash

frozen_of() { sed -n 's/^frozen //p' "/sys/fs/cgroup/claudine.slice/claudine-task-$1.scope/cgroup.events" 2>/dev/null; }
# sleepers N: a task of N sleeping processes (for the latency figures).
sleepers() { submit alice -- sh -c "for i in \$(seq $1); do sleep 600 & done; wait"; }

sec_suspend() {
    begin "suspend: claudinectl suspend freezes a whole task tree (a child in its own session too), resume thaws it, a restart keeps it suspended"
    local h t c1 c2 sid_main sid_child
    h=$(home_of alice)
    rm -f "$h/counter"
    # The counter is written by a child in a session of its own (as Claude
    # Code runs its Bash tool): signals to the task's process group miss it.
    t=$(submit alice -- sh -c "setsid sh -c 'i=0; while [ \$i -lt 40 ]; do i=\$((i+1)); echo \$i > $h/counter; sleep 0.25; done' & wait")
    wait_until 60 "task $t counts" bash -c "[[ \$(cat $h/counter 2>/dev/null || echo 0) -ge 3 ]]"
    sid_main=$(pgrep -u alice -f '^sh -c setsid' | head -1 | xargs -r ps -o sid= -p | xargs)
    sid_child=$(pgrep -u alice -f '^sh -c i=0' | head -1 | xargs -r ps -o sid= -p | xargs)
    check "... its counting child runs in a session of its own ($sid_child, not $sid_main)" \
        test -n "$sid_child" -a "$sid_child" != "$sid_main"
    ctl alice suspend "$t"
    check_eq "claudinectl suspend $t (exit 0, answered once frozen)" "0 suspended $t" "$RC $OUT"
    check_eq "... cgroup.events says frozen 1" 1 "$(frozen_of "$t")"
    check_eq "... the task is suspended" suspended "$(state_of "$t")"
    c1=$(cat "$h/counter"); sleep 2; c2=$(cat "$h/counter")
    check_eq "... the child in its own session stopped counting (2 s)" "$c1" "$c2"
    ctl alice --json events --task "$t"
    check "... task:suspended was recorded" grep -q '"type":"task:suspended"' <<<"$OUT"
    ctl alice suspend "$t"
    check_match "suspending it again: refused, saying why" "already suspended" "$ERR"
    check "systemctl restart claudine" restart_daemon
    check_eq "after the restart the task is still suspended" suspended "$(state_of "$t")"
    check_eq "... and its scope still frozen" 1 "$(frozen_of "$t")"
    check_eq "... the counter did not move" "$c1" "$(cat "$h/counter")"
    ctl alice resume "$t"
    check_eq "claudinectl resume $t (exit 0)" "0 resumed $t" "$RC $OUT"
    check_eq "... cgroup.events says frozen 0" 0 "$(frozen_of "$t")"
    wait_until 30 "... the counter advances again" bash -c "[[ \$(cat $h/counter) -gt $c1 ]]"
    wait_until 60 "... and the task finishes normally" is_state "$t" succeeded
    check_eq "... having counted to the end" 40 "$(cat "$h/counter")"
    ctl alice --json events --task "$t"
    check "... task:resumed was recorded" grep -q '"type":"task:resumed"' <<<"$OUT"

    # Bad input: a task that is not running, one that is not suspended.
    ctl alice suspend "$t"
    check_match "suspending a finished task: refused" "only a running task can be suspended" "$ERR"
    local r; r=$(submit alice -- sleep 60)
    wait_until 30 "another task runs" is_state "$r" running
    ctl alice resume "$r"
    check_match "resuming a task that is not suspended: refused, saying so" "running, not suspended" "$ERR"
    ctl bob suspend "$r"
    check_match "bob cannot suspend alice's task (not found)" "not found" "$ERR"
    ctl alice suspend "$r"
    ctl alice cancel "$r"
    wait_until 30 "a suspended task can be cancelled: its frozen scope is stopped" is_state "$r" cancelled
    wait_until 30 "... and gone" scope_gone "$r"

    # Figures: suspend and resume latency (the client's round trip, which
    # includes waiting for cgroup.events) for 1, 10 and 100 processes.
    local n id t0 s_ms r_ms mem
    for n in 1 10 100; do
        id=$(sleepers "$n")
        poll 60 bash -c "[[ \$(wc -l < /sys/fs/cgroup/claudine.slice/claudine-task-$id.scope/cgroup.procs) -ge $((n + 2)) ]]"
        t0=$(now_ms); ctl alice suspend "$id"; s_ms=$(( $(now_ms) - t0 ))
        mem=$(cat "/sys/fs/cgroup/claudine.slice/claudine-task-$id.scope/memory.current")
        t0=$(now_ms); ctl alice resume "$id"; r_ms=$(( $(now_ms) - t0 ))
        note "figure: $n process(es): claudinectl suspend $s_ms ms, resume $r_ms ms (round trips, until frozen 1 / 0); memory held while frozen $(( mem >> 10 )) KiB"
        ctl alice cancel "$id"
    done
}

sec_relaunch() {
    begin "relaunch: after what a host reboot does to running tasks, a --restartable command runs again, a Claude task resumes its session, a plain command is interrupted and resume relaunches it"
    local h rs pl cl id sid
    h=$(home_of alice)
    check "the fake Messages API again (for the Claude task)" claude_setup
    rm -f "$h/runs"
    rs=$(submit alice --restartable -- sh -c "echo run >> $h/runs; exec sleep 1000")
    pl=$(submit alice -- sleep 1001)
    # A tool call that waits for a file (claude refuses a standalone sleep).
    rm -f /tmp/relaunch-go
    cl=$(submit alice --permission-mode bypassPermissions "A long tool call.
@bash until [ -e /tmp/relaunch-go ]; do sleep 1; done; echo released
@say done after the reboot")
    wait_until 120 "three tasks run: a --restartable command, a plain one, and Claude's tool (waiting for a file)" \
        bash -c "pgrep -u alice -f relaunch-go >/dev/null && [[ \$(cd /root && claudinectl list --json | jq '[.tasks[] | select(.state == \"running\")] | length') -ge 3 ]]"
    sid=$(session_of "$cl")
    check "systemctl stop claudine" systemctl stop claudine
    # What a host reboot does: every process of every scope dies, no exit record is left.
    for id in "$rs" "$pl" "$cl"; do
        systemctl kill --signal=SIGKILL "claudine-task-$id.scope" 2>/dev/null
    done
    wait_until 30 "their scopes are gone" bash -c "! compgen -G '/sys/fs/cgroup/claudine.slice/claudine-task-*.scope' >/dev/null"
    check "start claudine" start_daemon
    touch /tmp/relaunch-go
    wait_until 60 "the --restartable command is relaunched: attempt 2 runs" \
        bash -c "[[ \$(cd /root && claudinectl status $rs --json | jq -r '.state + \" \" + (.attempts|tostring)') == 'running 2' ]]"
    check_eq "... it ran again from the start" "run run" "$(tr '\n' ' ' < "$h/runs" | xargs)"
    check_match "... saying why" "relaunched \\(submitted --restartable" "$(jq -r '.attempt_history[0].reason // empty' <<<"$(task_json "$rs")")"
    wait_until 30 "the plain command is interrupted" is_state "$pl" interrupted
    check_match "... with the reason" "vanished" "$(field "$pl" reason)"
    wait_until 180 "the Claude task is relaunched and finishes (attempt 2)" \
        bash -c "[[ \$(cd /root && claudinectl status $cl --json | jq -r '.state + \" \" + (.attempts|tostring)') == 'succeeded 2' ]]"
    check_eq "... in the same session, which it resumed (the API saw the earlier turns)" "$sid true" \
        "$(session_of "$cl") $(fake_requests "$sid" | tail -1 | jq -r .earlier_turns)"
    ctl alice resume "$pl"
    check_eq "claudinectl resume of the interrupted command (exit 0)" 0 "$RC"
    wait_until 60 "... relaunches it: attempt 2 runs" \
        bash -c "[[ \$(cd /root && claudinectl status $pl --json | jq -r '.state + \" \" + (.attempts|tostring)') == 'running 2' ]]"
    ctl alice cancel "$pl"; ctl alice cancel "$rs"
    wait_until 30 "both cancelled" bash -c "[[ \$(cd /root && claudinectl status $pl --json | jq -r .state) == cancelled && \$(cd /root && claudinectl status $rs --json | jq -r .state) == cancelled ]]"
    systemctl stop fake-anthropic 2>/dev/null
}
