# tests/vm/guest/reboot.sh - a real reboot of the guest, its disk kept, with
# tasks running (sourced by suite.sh after lib.sh and claude.sh). The section
# runs twice: before the reboot it starts the tasks and resets the machine
# (reboot_guest); testbed-run runs the suite again after the boot, which calls
# it again with RESUMED=1 for the checks.
# shellcheck shell=bash

# What the two halves share (saved on the 9p share across the reboot).
RB_H=; RB_RS=; RB_PL=; RB_CL=; RB_Q=; RB_SID=; RB_TASKS=; RB_BOOT_ID=
FAKE_UNIT=/etc/systemd/system/fake-anthropic.service

# The fake Messages API as an enabled service that is up (listening) before
# claudine starts: at boot claudine relaunches the Claude task at once, before
# the suite runs again, and its first request must find the API, as a real
# host finds the real one.
fake_api_at_boot() {
    systemctl stop fake-anthropic 2>/dev/null; systemctl reset-failed fake-anthropic 2>/dev/null
    cat > "$FAKE_UNIT" <<EOF
[Unit]
Description=fake Anthropic Messages API of the test suite (up before claudine)
Before=claudine.service

[Service]
ExecStart=/usr/local/bin/fake_anthropic --port $FAKE_PORT --log $FAKE_LOG
# Started = listening (curl succeeds on any HTTP answer, a 404 included).
ExecStartPost=/usr/bin/timeout 30 /bin/sh -c 'until curl -s -o /dev/null http://127.0.0.1:$FAKE_PORT/; do sleep 0.1; done'

[Install]
WantedBy=multi-user.target
EOF
    systemctl daemon-reload && systemctl enable --now --quiet fake-anthropic
}
fake_api_at_boot_remove() {
    systemctl disable --now --quiet fake-anthropic 2>/dev/null
    rm -f "$FAKE_UNIT"; systemctl daemon-reload
}

# rb_attempt ID: "STATE ATTEMPTS" of a task.
rb_attempt() { task_json "$1" | jq -r '.state + " " + (.attempts|tostring)'; }
rb_is() { [[ $(rb_attempt "$1") == "$2" ]]; }
# rb_runs FILE: the lines of one of the runs files, on one line.
rb_runs() { xargs < "$RB_H/$1" 2>/dev/null; }
# rb_snapshot: every task, as root sees it: id, state, attempts.
rb_snapshot() { all_json | jq -c '[.tasks[] | {id, state, attempts}] | sort_by(.id)'; }
# rb_tool_waits: Claude's Bash tool runs, waiting for the file "go".
rb_tool_waits() { pgrep -u alice -f "$RB_H/go" >/dev/null; }
rb_all_run() { rb_tool_waits && count_is 3 running "$RB_RS" "$RB_PL" "$RB_CL"; }
rb_claude_relaunched() { rb_tool_waits && rb_is "$RB_CL" "running 2"; }
rb_setup() { claude_install && fake_api_at_boot; }

sec_reboot() {
    if [[ $RESUMED == 1 ]]; then reboot_after; return; fi
    begin "reboot: a crash-like reboot of the guest (sysrq b, disk kept) with 3 running tasks and a queued one"
    note "the first boot: $(systemd-analyze 2>/dev/null | head -1)"
    local active id
    # A clean slate: what earlier sections left active would blur the counts.
    active=$(all_json | jq -r '.tasks[] | select(.state | test("^(queued|starting|running|suspended)$")) | .id')
    for id in $active; do ctl root cancel "$id"; done
    [[ -n $active ]] && wait_until 60 "tasks left active by earlier sections are cancelled ($(xargs <<<"$active"))" all_terminal $active
    check "the claude CLI, alice's credentials, and the fake API as a service up before claudine at every boot" rb_setup
    write_config 'max_running = 3'
    check "restart with max_running = 3" restart_daemon
    RB_H=$(home_of alice)/reboot
    rm -rf "$RB_H"; install -d -o alice -g alice "$RB_H"

    # Each command writes a line when it starts, then runs until the file
    # "done" exists (made after the reboot): a second run finishes on its own.
    RB_RS=$(submit alice --restartable -- sh -c "echo run >> $RB_H/rs-runs; while [ ! -e $RB_H/done ]; do sleep 1; done")
    RB_PL=$(submit alice -- sh -c "echo run >> $RB_H/pl-runs; while [ ! -e $RB_H/done ]; do sleep 1; done")
    # Claude's long tool call waits for the file "go" (claude refuses a bare sleep).
    RB_CL=$(submit alice --permission-mode bypassPermissions --cwd "$RB_H" "A long tool call across a reboot.
@bash until [ -e $RB_H/go ]; do sleep 1; done; echo released
@say done after the reboot")
    check "3 tasks submitted: --restartable $RB_RS, plain $RB_PL, Claude $RB_CL" test -n "$RB_RS" -a -n "$RB_PL" -a -n "$RB_CL"
    wait_until 180 "all 3 run, Claude's tool call waiting for a file" rb_all_run
    wait_until 30 "the commands wrote their first line" test -s "$RB_H/rs-runs" -a -s "$RB_H/pl-runs"
    RB_SID=$(session_of "$RB_CL")
    wait_until 30 "claudine's progress file shows Claude's session $RB_SID began" \
        bash -c "[[ \$(jq -r .session_id $STATE/exit/$RB_CL.progress.json 2>/dev/null) == '$RB_SID' ]]"
    check "the API saw the session's first turn" test -n "$(fake_requests "$RB_SID" | head -1)"

    # What the kernel's periodic writeback would have done by now (every file
    # older than ~30 s is on disk): claude's own session file, which claude does
    # not fsync, and claudine's progress file. Nothing is synced after this:
    # the 4th task below must survive the crash on claudine's own fsync.
    sync
    RB_Q=$(submit alice -- sh -c "echo run >> $RB_H/q-runs")
    check_eq "a 4th task, submitted after the last sync, waits (max_running = 3)" queued "$(state_of "$RB_Q")"
    RB_TASKS=$(rb_snapshot)
    RB_BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
    note "before the reboot: $(jq length <<<"$RB_TASKS") tasks, $(jq -r '[.[] | select(.state == "running" or .state == "queued")] | map("\(.id) \(.state)") | join(", ")' <<<"$RB_TASKS")"
    journalctl -q --no-pager -u claudine > "$TESTBED_OUT/claudine-journal-boot1.txt" 2>/dev/null
    reboot_guest reboot RB_H RB_RS RB_PL RB_CL RB_Q RB_SID RB_TASKS RB_BOOT_ID
}

reboot_after() {
    begin "reboot, after the boot: each task relaunched or interrupted as configured, nothing lost"
    local rec after up_ms boot_ms active_us
    up_ms=$(awk '{printf "%d", $1 * 1000}' /proc/uptime)
    boot_ms=$(( $(now_ms) - up_ms ))     # this boot's start, on this boot's clock
    check "the guest really rebooted (a new boot id)" test "$(cat /proc/sys/kernel/random/boot_id)" != "$RB_BOOT_ID"
    journalctl -b -q --no-pager -o short-monotonic > "$TESTBED_OUT/journal-boot2.txt" 2>/dev/null
    active_us=$(systemctl show -P ActiveEnterTimestampMonotonic claudine)
    note "figure: sysrq b -> the suite runs again: ${REBOOT_MS:-?} ms (host clock); of which kernel start -> suite: $up_ms ms, kernel start -> claudined active: $(( active_us / 1000 )) ms"
    note "boot: $(systemd-analyze 2>/dev/null | head -1)"
    detail "$(systemd-analyze blame 2>/dev/null | head -5)" 5
    check "claudined came up by itself at boot and answers" daemon_answers
    check "the fake API came up at boot too" systemctl is-active -q fake-anthropic
    wait_until 10 "journal: claudine reconciled the store at boot" \
        bash -c "journalctl -b -q --no-pager -u claudine | grep -q 'reconciled:'"
    rec=$(journalctl -b -q --no-pager -u claudine -o json | jq -r 'select(.MESSAGE | strings | test("^reconciled:")) | .__MONOTONIC_TIMESTAMP + " " + .MESSAGE' | head -1)
    [[ $rec =~ ^[0-9]+\  ]] && note "figure: kernel start -> claudined reconciled its store: $(( ${rec%% *} / 1000 )) ms"
    check_match "... 1 queued, none adopted (every scope is gone), 2 relaunched (requeued), 1 interrupted" \
        "reconciled: 1 queued, 0 adopted, 0 finished while down, 2 requeued, 1 interrupted" "${rec#* }"

    # Nothing lost: every task, with the same state and attempt for those that had ended.
    after=$(rb_snapshot)
    check_eq "every one of the $(jq length <<<"$RB_TASKS") tasks of before the reboot is still listed, no other" \
        "$(jq -c 'map(.id)' <<<"$RB_TASKS")" "$(jq -c 'map(.id)' <<<"$after")"
    check_eq "... those that had ended did not change (state, attempts)" \
        "$(jq -c 'map(select(.state | test("^(succeeded|failed|cancelled|interrupted)$")))' <<<"$RB_TASKS")" \
        "$(jq -c --argjson b "$RB_TASKS" '[.[] | . as $t | select(any($b[]; .id == $t.id and (.state | test("^(succeeded|failed|cancelled|interrupted)$"))))]' <<<"$after")"
    ctl alice list --all --json
    check_eq "alice's claudinectl list shows her 4 tasks of before the reboot" 4 \
        "$(jq --argjson ids "[$RB_RS,$RB_PL,$RB_CL,$RB_Q]" '[.tasks[] | select(.id as $i | $ids | index($i))] | length' <<<"$OUT")"

    # The queued task, submitted after the last sync: kept by the store's fsync, and run once.
    wait_until 60 "the queued task $RB_Q (submitted after the last sync) runs and succeeds: attempt 1" rb_is "$RB_Q" "succeeded 1"
    check_eq "... it ran once" run "$(rb_runs q-runs)"

    # The plain command: interrupted, with the reason; not run again.
    wait_until 30 "the plain command $RB_PL is interrupted" is_state "$RB_PL" interrupted
    check_match "... with the reason: its scope vanished, host reboot" \
        "attempt 1 started in claudine-task-$RB_PL\\.scope, which vanished without an exit status.*host reboot" "$(field "$RB_PL" reason)"
    check_eq "... no exit code invented, attempt 1" " 1" "$(field "$RB_PL" exit_code) $(field "$RB_PL" attempts)"
    check_eq "... it did not run again by itself" run "$(rb_runs pl-runs)"

    # The --restartable command: relaunched at boot, from the start.
    wait_until 60 "the --restartable command $RB_RS is relaunched at boot: attempt 2 runs" rb_is "$RB_RS" "running 2"
    wait_until 30 "... from the start (a second 'run' line)" bash -c "[[ \$(xargs < $RB_H/rs-runs) == 'run run' ]]"
    check_match "... saying why" "vanished without an exit status.*relaunched \\(submitted --restartable" \
        "$(task_json "$RB_RS" | jq -r '.attempt_history[0].reason // empty')"

    # The Claude task: relaunched at boot with --resume of its session.
    wait_until 180 "the Claude task $RB_CL is relaunched at boot: attempt 2 runs the tool again, waiting for the file" \
        rb_claude_relaunched
    check_eq "... in the same session, resumed: the API's first request after the reboot holds the earlier turns" \
        "$RB_SID true" "$(session_of "$RB_CL") $(fake_requests "$RB_SID" | jq -c --argjson t0 "$boot_ms" 'select(.ts_ms > $t0)' | head -1 | jq -r .earlier_turns)"
    check_match "... saying why" "relaunched \\(a Claude Code task: its session continues" \
        "$(task_json "$RB_CL" | jq -r '.attempt_history[0].reason // empty')"

    # Release them: both end on their own.
    touch "$RB_H/done" "$RB_H/go"
    wait_until 60 "the relaunched command succeeds: attempt 2" rb_is "$RB_RS" "succeeded 2"
    wait_until 180 "the relaunched Claude task succeeds: attempt 2" rb_is "$RB_CL" "succeeded 2"
    ctl alice logs "$RB_CL"
    check_match "... its log has the reply of after the reboot" "done after the reboot" "$OUT"

    # claudinectl resume of the interrupted command relaunches it.
    ctl alice resume "$RB_PL"
    check_eq "claudinectl resume $RB_PL of the interrupted command (exit 0)" 0 "$RC"
    wait_until 60 "... relaunches it, and it succeeds: attempt 2" rb_is "$RB_PL" "succeeded 2"
    check_eq "... having run twice in all" "run run" "$(rb_runs pl-runs)"
    ctl alice status "$RB_PL"
    check_match "claudinectl status says attempts: 2" "^attempts: +2$" "$OUT"
    check_eq "the 4 tasks' final attempts: restartable 2, plain 2, Claude 2, queued 1" \
        "succeeded 2,succeeded 2,succeeded 2,succeeded 1" \
        "$(rb_attempt "$RB_RS"),$(rb_attempt "$RB_PL"),$(rb_attempt "$RB_CL"),$(rb_attempt "$RB_Q")"

    fake_api_at_boot_remove
    write_config
    check "restart with the default configuration" restart_daemon
}

# --- an orderly reboot: systemd stops the task scopes (after claudined: they
# are ordered before it), the supervisors record that their scope was stopped.
SD_H=; SD_RS=; SD_PL=; SD_BOOT_ID=

sec_shutdown() {
    if [[ $RESUMED == 1 ]]; then shutdown_after; return; fi
    begin "shutdown: an orderly reboot (systemctl reboot) with a --restartable command and a plain one running"
    write_config 'max_running = 3'
    check "restart with max_running = 3" restart_daemon
    SD_H=$(home_of alice)/shutdown
    rm -rf "$SD_H"; install -d -o alice -g alice "$SD_H"
    SD_RS=$(submit alice --restartable -- sh -c "echo run >> $SD_H/rs-runs; while [ ! -e $SD_H/done ]; do sleep 1; done")
    SD_PL=$(submit alice -- sh -c "echo run >> $SD_H/pl-runs; while [ ! -e $SD_H/done ]; do sleep 1; done")
    wait_until 60 "a --restartable command ($SD_RS) and a plain one ($SD_PL) run" \
        bash -c "[[ -s $SD_H/rs-runs && -s $SD_H/pl-runs ]]"
    check "their scopes are ordered before claudine.service (claudined stops first at a shutdown)" \
        bash -c "systemctl show -P Before claudine-task-$SD_RS.scope | grep -qw claudine.service"
    SD_BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
    REBOOT_HOW=orderly reboot_guest shutdown SD_H SD_RS SD_PL SD_BOOT_ID
}

shutdown_after() {
    begin "shutdown, after the boot: the --restartable command relaunched, the plain one interrupted (not failed by the shutdown's SIGTERM)"
    check "the guest really rebooted (a new boot id)" test "$(cat /proc/sys/kernel/random/boot_id)" != "$SD_BOOT_ID"
    check "claudined came up by itself at boot and answers" daemon_answers
    wait_until 60 "the --restartable command $SD_RS is relaunched at boot: attempt 2 runs" rb_is "$SD_RS" "running 2"
    check_match "... saying why" "stopped with claudine-task-$SD_RS\\.scope while claudined was down \\(a shutdown or reboot\\).*relaunched" \
        "$(task_json "$SD_RS" | jq -r '.attempt_history[0].reason // empty')"
    wait_until 30 "the plain command $SD_PL is interrupted, not failed" is_state "$SD_PL" interrupted
    check_match "... with the reason" "stopped with claudine-task-$SD_PL\\.scope while claudined was down \\(a shutdown or reboot\\)" \
        "$(field "$SD_PL" reason)"
    check_eq "... it did not run again by itself" run "$(xargs < "$SD_H/pl-runs")"
    touch "$SD_H/done"
    wait_until 60 "the relaunched command succeeds: attempt 2" rb_is "$SD_RS" "succeeded 2"
    write_config
    check "restart with the default configuration" restart_daemon
}
