# tests/vm/guest/monitoring.sh - sections of the acceptance suite for the
# monitoring issue that exist so far: per-task hard limits as the scope's
# properties, enforced by the kernel. Sourced by suite.sh after lib.sh.
# shellcheck shell=bash

scope_prop() { systemctl show -P "$2" "claudine-task-$1.scope" 2>/dev/null; }
sec_limits() {
    begin "limits: --memory-max and --max-pids are the kernel's, CPU weight and quota are set, bad values refused"
    rm -rf /tmp/lim; mkdir -m 1777 /tmp/lim
    # This section is about limits, not admission: the guest's CPU (busy
    # with the test's own polling under emulation) must not hold the tasks.
    write_config 'cpu_max_percent = 100'
    check "restart with cpu_max_percent = 100" restart_daemon
    local m n p c
    # A real allocator: the bytes object is written, so every page is charged.
    m=$(submit alice --memory-max 64M -- python3 -c 'x = b"a" * (300 << 20)')
    n=$(submit alice -- sh -c 'sleep 3; echo neighbour fine')
    # (dash gives up at the first failed fork; this one reports it and lives on.)
    p=$(submit alice --max-pids 8 -- python3 -c '
import os, time
kids = 0
for i in range(30):
    try:
        if os.fork() == 0:
            time.sleep(8)
            os._exit(0)
        kids += 1
    except OSError as e:
        print("fork failed:", e.strerror, flush=True)
        break
print("children:", kids, flush=True)
time.sleep(8)')
    c=$(submit alice --cpu-weight 50 --cpu-quota 150% --memory-warn 1G --stall-after 10m -- sleep 60)
    wait_until 60 "the pid-limited task runs" is_state "$p" running
    check_eq "TasksMax of its scope is 8" 8 "$(scope_prop "$p" TasksMax)"
    check_eq "... and the kernel's pids.max too" 8 "$(cat "/sys/fs/cgroup/claudine.slice/claudine-task-$p.scope/pids.max" 2>&1)"
    wait_until 60 "the CPU-limited task runs" is_state "$c" running
    check_eq "CPUWeight of its scope is 50" 50 "$(scope_prop "$c" CPUWeight)"
    check_match "CPUQuotaPerSecUSec is 1.5 s" '^1\.5(0*)s$' "$(scope_prop "$c" CPUQuotaPerSecUSec)"
    check_eq "... and the kernel's cpu.max" "150000 100000" "$(cat "/sys/fs/cgroup/claudine.slice/claudine-task-$c.scope/cpu.max" 2>&1)"
    ctl alice status "$c"
    check_match "status shows the limits" 'limits: +memory warn 1 GiB, cpu weight 50, cpu quota 150%, stall after 10 min' "$OUT"
    check_match "status shows what the running task uses now (memory, pids)" 'memory: +[0-9.]+ (B|KiB|MiB)' "$OUT"
    local res; res=$(task_json "$c" | jq -c '.resources')
    check_eq "status --json: resources from its cgroup (2 pids: the supervisor and sleep)" 2 "$(jq -r '.pids' <<<"$res")"
    check "status --json: memory now > 0" test "$(jq -r '.memory_bytes // 0' <<<"$res")" -gt 0
    wait_until 90 "the memory hog ends" is_terminal "$m"
    check_eq "it failed" failed "$(state_of "$m")"
    check_eq "the reason says the kernel killed it at its limit" \
        "killed by the kernel: memory limit 64 MiB reached" "$(field "$m" reason)"
    check "the kernel's oom_kill count is in its attempt record" \
        test "$(task_json "$m" | jq '.attempt_history[-1].usage.memory_oom_kill // 0')" -ge 1
    check "its peak stayed at the limit" \
        test "$(task_json "$m" | jq '.attempt_history[-1].usage.memory_peak // 0')" -le $((64 << 20))
    wait_until 60 "its neighbour finished" is_terminal "$n"
    check_eq "... and succeeded: nothing else was touched" succeeded "$(state_of "$n")"
    check "claudined still answers" daemon_answers
    wait_until 60 "the pid-limited task ends" is_terminal "$p"
    check_match "its forks beyond 8 failed (8 = the supervisor, python, 6 children)" \
        'fork failed: Resource temporarily unavailable' "$(cat "$STATE/logs/$p.out")"
    check_match "... after 6 children" '^children: 6$' "$(cat "$STATE/logs/$p.out")"
    ctl alice cancel "$c"
    ctl alice submit --memory-warn 2G --memory-max 1G -- true
    check_eq "a soft limit above the hard one is refused (exit 1)" 1 "$RC"
    check_match "... saying so" 'memory warning level 2 GiB is above the memory limit 1 GiB' "$ERR"
    ctl alice submit --memory-max 4Gb -- true
    check_eq "--memory-max 4Gb is a usage error (exit 2)" 2 "$RC"
    check_match "... naming the flag and the fix" "memory-max.*4Gb.*e\.g\. 4G" "$ERR"
    ctl alice submit --stall-after "10 parsecs" -- true
    check_eq "--stall-after '10 parsecs' is a usage error (exit 2)" 2 "$RC"
    ctl alice submit --cpu-weight 0 -- true
    check_eq "--cpu-weight 0 is a usage error (exit 2)" 2 "$RC"
    local raw; raw=$(curl -s --unix-socket "$SOCK" -d '{"argv":["true"],"cwd":"/tmp","limits":{"memory_max":1024}}' http://localhost/v1/tasks)
    check_match "the API refuses a 1 KiB memory limit with a clear message" 'memory-max 1 KiB is too small' "$raw"
    write_config
    check "restart with the default configuration" restart_daemon
}

# ============================================================ events
follow_saw_end() { jq -s -e --argjson b "$1" 'any(.[]; .task == $b and .type == "task:finished")' /tmp/ev.follow >/dev/null 2>&1; }
sec_events() {
    begin "events: lifecycle events per task, stored, only your own, streamed with --follow"
    local a b fp
    a=$(submit alice -- sh -c 'exit 3')
    wait_until 30 "task $a ends" is_terminal "$a"
    ctl alice --json events --task "$a"
    check_eq "alice: events --task: queued, started, finished" "task:queued task:started task:finished" \
        "$(jq -r .type <<<"$OUT" | xargs)"
    check_eq "... the last says failed, exit 3" "failed 3" "$(tail -1 <<<"$OUT" | jq -r '"\(.state) \(.exit_code)"')"
    check_match "... with RFC 3339 times" '"at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"' "$OUT"
    ctl alice events --task "$a"
    check_match "the human form reads as words" "task $a finished" "$OUT"
    ctl bob events --task "$a"
    check_eq "bob: events of alice's task are 'not found' (exit 1)" 1 "$RC"
    ctl bob --json events
    check_eq "bob: his stream has none of alice's events" 0 \
        "$(jq -s --argjson a "$a" '[.[] | select(.task == $a)] | length' <<<"$OUT")"
    ctl dave --json events --task "$a"
    check_eq "dave (admin) sees them" 3 "$(grep -c . <<<"$OUT")"
    : > /tmp/ev.follow
    as alice claudinectl --json events --follow > /tmp/ev.follow 2>&1 & fp=$!
    b=$(submit alice -- true)
    wait_until 30 "events --follow receives task $b's end as it happens" follow_saw_end "$b"
    pkill -u alice -f 'claudinectl --json events --follow'; wait "$fp" 2>/dev/null
    restart_daemon
    ctl alice --json events --task "$a"
    check_eq "events survive a daemon restart" 3 "$(grep -c . <<<"$OUT")"
}

# ============================================================ hooks and metrics
metrics() { curl -s --max-time 5 http://127.0.0.1:9464/metrics; }
# metrics_memory_matches ID: the exported memory of task ID is within 1 MiB of its cgroup's memory.current.
metrics_memory_matches() {
    local exported real
    exported=$(metrics | awk -v t="task=\"$1\"" 'index($0, "claudine_task_memory_bytes{") == 1 && index($0, t) {print $NF}')
    real=$(cat "/sys/fs/cgroup/claudine.slice/claudine-task-$1.scope/memory.current" 2>/dev/null)
    [[ -n $exported && -n $real ]] && (( exported - real < 1048576 && real - exported < 1048576 ))
}
sec_metrics() {
    begin "hooks and the metrics endpoint from the configuration; a hanging hook delays nothing"
    # The hook (as nobody) creates its own file in a sticky, world-writable dir.
    rm -rf /tmp/hk; mkdir -m 1777 /tmp/hk
    write_config 'metrics_listen = "127.0.0.1:9464"' \
        '[[hooks]]' 'events = ["task:finished"]' 'command = ["/bin/sh", "-c", "cat >> /tmp/hk/events"]' \
        '[[hooks]]' 'events = ["*"]' 'command = ["/bin/sleep", "1000"]' 'timeout_ms = 2000'
    check "restart with metrics_listen and two hooks (one hangs)" restart_daemon
    local a b s
    a=$(submit alice -- true); b=$(submit alice -- sh -c 'exit 2')
    wait_until 30 "the first hook got both task:finished events, the hanging one beside it notwithstanding" \
        bash -c '[[ $(grep -c task:finished /tmp/hk/events 2>/dev/null) -ge 2 ]]'
    check_eq "... as JSON lines with the exit code" 2 \
        "$(jq -s --argjson b "$b" '[.[] | select(.task == $b)][0].exit_code' /tmp/hk/events)"
    check_eq "... written by the hook running as nobody" nobody "$(stat -c %U /tmp/hk/events)"
    local m; m=$(metrics)
    check_match "the metrics endpoint answers in the text format" '^# HELP claudine_' "$m"
    wait_until 10 "it counts the finished events (rendered once a tick)" \
        bash -c 'curl -s http://127.0.0.1:9464/metrics | grep -Eq "claudine_events_total.event=.task:finished.. [2-9]"'
    s=$(submit alice -- sleep 60)
    wait_until 30 "a task runs" is_state "$s" running
    wait_until 10 "its memory is exported and matches its cgroup's memory.current" metrics_memory_matches "$s"
    wait_until 15 "the hanging hook is counted as timed out" \
        bash -c 'curl -s http://127.0.0.1:9464/metrics | grep -Eq "claudine_hook_timeouts_total\{[^}]*\} [1-9]"'
    ctl root cancel "$s"
    # An address in use: reported, and the daemon serves its socket all the same.
    python3 -c 'import socket, time; s = socket.socket(); s.bind(("127.0.0.1", 9465)); s.listen(); time.sleep(60)' &
    local blocker=$!
    poll 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9465'
    local cur; cur=$(journal_cursor)
    write_config 'metrics_listen = "127.0.0.1:9465"'
    check "restart with a metrics address in use" restart_daemon
    check_match "the journal says why the endpoint is off" 'metrics endpoint disabled.*9465' "$(journal_since "$cur")"
    kill "$blocker" 2>/dev/null; wait "$blocker" 2>/dev/null
    write_config 'metrics_listen = "localhost:x"'
    systemctl restart claudine 2>/dev/null
    poll 10 bash -c '! systemctl is-active -q claudine'
    check_match "an unparseable metrics_listen stops the daemon naming the key" 'metrics_listen' \
        "$(journalctl -q --no-pager -u claudine -n 20)"
    write_config
    check "restart with the default configuration" restart_daemon
}

# ============================================================ monitor
# The follow client's lines are "RECEIVED_US JSON" (bash's clock: no fork per line).
MON=/tmp/mon.follow
mon_events() { cut -d' ' -f2- "$MON" 2>/dev/null; }
# ev_of ID TYPE: the first event of that type for task ID (JSON), if any.
ev_of() { mon_events | jq -c --argjson t "$1" --arg k "$2" 'select(.task == $t and .type == $k)' 2>/dev/null | head -1; }
has_ev() { [[ -n $(ev_of "$1" "$2") ]]; }
# received_ms ID TYPE: when the follow client received that event.
received_ms() {
    local line
    line=$(grep -F "\"task\":$1," "$MON" | grep -F "\"type\":\"$2\"" | head -1)
    echo $(( ${line%% *} / 1000 ))
}
# at_ms EVENT_JSON: its "at" in ms since the epoch.
at_ms() { local at; at=$(jq -r .at <<<"$1"); echo $(( $(date -d "$at" +%s%N) / 1000000 )); }
hook_has() { jq -s -e --argjson t "$1" --arg k "$2" 'any(.[]; .task == $t and .type == $k)' /tmp/mh/events >/dev/null 2>&1; }
status_matches() { ctl root status "$1"; grep -Eq -- "$2" <<<"$OUT"; }
exported_output_matches() {
    local exported real
    exported=$(metrics | awk -v t="task=\"$1\"" 'index($0, "claudine_task_output_bytes_total{") == 1 && index($0, t) {print $NF}')
    real=$(stat -c %s "$STATE/logs/$1.log")
    [[ -n $exported && $exported == "$real" ]]
}
sec_monitor() {
    begin "monitor: stalls busy and idle, active again at once, memory over its soft limit, hooks, journal, escapes, status"
    rm -rf /tmp/mh; mkdir -m 1777 /tmp/mh
    write_config 'cpu_max_percent = 100' 'metrics_listen = "127.0.0.1:9464"' \
        '[[hooks]]' 'events = ["task:stalled", "task:active", "task:high-memory", "task:critical-memory", "task:escaped"]' \
        'command = ["/bin/sh", "-c", "cat >> /tmp/mh/events"]' \
        '[[hooks]]' 'events = ["task:active"]' 'command = ["/bin/sh", "-c", "date +%s%3N >> /tmp/mh/active-at"]' \
        '[[hooks]]' 'events = ["*"]' 'command = ["/bin/sleep", "1000"]' 'timeout_ms = 3000'
    check "restart with hooks on the monitor's events (one hangs) and the metrics endpoint" restart_daemon
    : > "$MON"
    (cd /root && exec claudinectl --json events --follow) 2>&1 | while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done > "$MON" &
    local fp=$!
    local idle busy mem
    idle=$(submit alice --stall-after 4s -- sh -c 'echo start; sleep 16; date +%s%3N; sleep 60')
    busy=$(submit alice --stall-after 4s -- python3 -c '
import time
print("start", flush=True)
t = time.time()
while time.time() - t < 16: pass
print(int(time.time() * 1000), flush=True)
time.sleep(60)')
    mem=$(submit alice --memory-warn 64M --memory-max 200M -- python3 -c '
import time
x = b"a" * (184 << 20)
print("allocated", flush=True)
time.sleep(60)')
    wait_until 40 "the silent sleeper raises task:stalled" has_ev "$idle" task:stalled
    local ev; ev=$(ev_of "$idle" task:stalled)
    check_eq "... idle (no CPU)" false "$(jq -r .busy <<<"$ev")"
    local silent; silent=$(jq -r .silent_for_ms <<<"$ev")
    note "stalled after ${silent} ms of silence (threshold 4000 ms, interval 1000 ms)"
    check "... within the threshold plus one interval (and 1 s of scheduling under emulation)" \
        test "$silent" -ge 4000 -a "$silent" -le 6000
    check_match "status says idle and how long" 'activity: +idle: (no CPU|[0-9]% CPU), no output for [0-9]+ s' \
        "$(ctl root status "$idle"; echo "$OUT")"
    check_eq "status --json: stalled" true "$(task_json "$idle" | jq -r .resources.stalled)"
    wait_until 40 "the busy loop raises task:stalled" has_ev "$busy" task:stalled
    ev=$(ev_of "$busy" task:stalled)
    check_eq "... busy" true "$(jq -r .busy <<<"$ev")"
    check "... with its CPU share (>= 50% of a core)" jq -e '.cpu_percent >= 50' <<<"$ev"
    wait_until 30 "status says busy while it spins" status_matches "$busy" 'activity: +busy: [0-9]+% CPU, no output for'
    wait_until 30 "the sleeper prints again: task:active" has_ev "$idle" task:active
    local printed latency
    printed=$(tail -1 "$STATE/logs/$idle.out")
    latency=$(( $(received_ms "$idle" task:active) - printed ))
    note "from its output to task:active on the events --follow client: ${latency} ms"
    check "... at once, not at the next sample (under 1 s after the write, emulated)" test "$latency" -lt 1000
    wait_until 30 "the busy task prints again: task:active" has_ev "$busy" task:active
    wait_until 10 "a hook ran for the first task:active" test -s /tmp/mh/active-at
    local first_active hook_delay
    first_active=$(mon_events | jq -c 'select(.type == "task:active")' | head -1)
    hook_delay=$(( $(head -1 /tmp/mh/active-at) - $(at_ms "$first_active") ))
    note "first task:active to its hook running: ${hook_delay} ms, while the hanging hook was stuck 3 s on each event"
    check "... not held up by the hanging hook (under its 3 s timeout)" test "$hook_delay" -lt 3000
    wait_until 40 "the allocator raises task:high-memory" has_ev "$mem" task:high-memory
    ev=$(ev_of "$mem" task:high-memory)
    check "... with its usage over the soft limit and the hard limit beside it" \
        jq -e '.current_bytes >= (64 * 1048576) and .threshold_bytes == (64 * 1048576) and .limit_bytes == (200 * 1048576)' <<<"$ev"
    wait_until 30 "... and task:critical-memory near its hard limit (90%)" has_ev "$mem" task:critical-memory
    check_eq "nothing killed it: it still runs" running "$(state_of "$mem")"
    wait_until 20 "the first hook got the stalls, the activity and the memory warnings" \
        bash -c "jq -s -e '[.[] | .type] | (index(\"task:stalled\") and index(\"task:active\") and index(\"task:high-memory\"))' /tmp/mh/events"
    check "... as JSON with the event's fields (idle stall of task $idle)" \
        jq -s -e --argjson t "$idle" 'any(.[]; .task == $t and .type == "task:stalled" and .busy == false and (.silent_for_ms >= 4000))' /tmp/mh/events
    local j
    j=$(journalctl -q --no-pager -u claudine CLAUDINE_EVENT=task:stalled CLAUDINE_TASK_ID="$idle" -o json | head -1)
    check_eq "the journal has the stall at priority warning (4)" 4 "$(jq -r .PRIORITY <<<"$j")"
    check_match "... in words" "task $idle stalled: idle: " "$(jq -r .MESSAGE <<<"$j")"
    check_eq "... CLAUDINE_USER=alice" alice "$(jq -r .CLAUDINE_USER <<<"$j")"
    j=$(journalctl -q --no-pager -u claudine CLAUDINE_EVENT=task:critical-memory CLAUDINE_TASK_ID="$mem" -o json | head -1)
    check_eq "critical memory is at priority err (3)" 3 "$(jq -r .PRIORITY <<<"$j")"
    ctl root status "$idle"
    check_match "status: output bytes, lines and when" 'output: +[0-9.]+ B, 2 lines, last [0-9]+ ?s ago' "$OUT"
    check_match "status: CPU time and share" 'cpu: +.* used, now [0-9]+% of a core' "$OUT"
    check_match "status: open files of its processes" 'open files: +[0-9]+' "$OUT"
    check_match "status: memory split into anon and file" 'memory: +[0-9.]+ [KMG]?i?B \(anon ' "$OUT"
    wait_until 10 "the endpoint's output counter is the log's size" exported_output_matches "$idle"
    check_match "the endpoint has the host's pressure stall information" \
        'claudine_host_pressure_some_ratio\{resource="memory"\} [0-9.e-]+' "$(metrics)"
    check "the endpoint parses with prometheus_client" \
        bash -c 'curl -s http://127.0.0.1:9464/metrics | python3 -c "import sys; from prometheus_client.parser import text_string_to_metric_families as p; n = len(list(p(sys.stdin.read()))); assert n > 5, n"'
    # Containment: a process moved out of its scope is noticed and reported.
    local f pid
    f=$(submit alice -- sh -c 'sleep 300 & sleep 300')
    wait_until 30 "a task with two sleeps runs" bash -c "[[ \$(grep -c . /sys/fs/cgroup/claudine.slice/claudine-task-$f.scope/cgroup.procs 2>/dev/null) -ge 3 ]]"
    pid=$(for p in $(scope_procs "$f"); do [[ $(cat "/proc/$p/comm") == sleep ]] && echo "$p"; done 2>/dev/null | head -1)
    mkdir -p /sys/fs/cgroup/claudine-escape-test
    echo "$pid" > /sys/fs/cgroup/claudine-escape-test/cgroup.procs
    wait_until 15 "a sleep moved out of the scope raises task:escaped" has_ev "$f" task:escaped
    ev=$(ev_of "$f" task:escaped)
    check_eq "... naming the process and where it went" "$pid /claudine-escape-test" "$(jq -r '"\(.pid) \(.cgroup)"' <<<"$ev")"
    kill "$pid"; poll 10 rmdir /sys/fs/cgroup/claudine-escape-test
    # The user's own manager, asked from inside a task, does not get a
    # process out unnoticed either.
    loginctl enable-linger alice
    local uid e; uid=$(id -u alice)
    wait_until 90 "alice's own systemd runs (linger)" test -S "/run/user/$uid/systemd/private"
    e=$(submit alice -- sh -c "XDG_RUNTIME_DIR=/run/user/$uid systemd-run --user --scope -q --unit=claudine-escape sleep 200; echo exit \$?; sleep 200")
    wait_until 90 "systemd-run --user --scope from a task has started its command (or failed)" \
        bash -c "pgrep -u alice -f '^(/usr/bin/)?sleep 200\$' >/dev/null"
    poll 10 has_ev "$e" task:escaped
    local moved; moved=$(for p in $(pgrep -u alice -f '^(/usr/bin/)?sleep 200$'); do grep -q "claudine-task-$e.scope" "/proc/$p/cgroup" || echo "$p"; done)
    if [[ -n $moved ]]; then
        check "the user manager moved a process out of the task's scope: reported" has_ev "$e" task:escaped
    else
        pass "the user manager could not move the task's process out of its scope (contained)"
    fi
    note "systemd-run in the task: $(tail -2 "$STATE/logs/$e.log" 2>/dev/null | xargs) (moved: ${moved:-none})"
    loginctl disable-linger alice
    # Measure the monitor's cost on a quiet host: the user manager's stop
    # takes seconds of CPU under emulation.
    wait_until 60 "alice's user manager has stopped" bash -c "! systemctl -q is-active user@$uid.service"
    # A task that prints megabytes per second: the monitor's cost does not
    # follow its output (no syscall per byte; new bytes are counted at most
    # a few MiB per sample). What claudined spends anyway (host samples, the
    # other tasks' readings) is measured over a quiet window after and
    # taken off: under emulation the print's wall time varies 6-26 s with
    # the kernel's dirty-page throttling in the slice (its memory budget
    # bounds the dirtyable page cache), and that cost follows the clock,
    # not the output.
    local loud d0 d1 d2 hz scope_ms daemon_ms idle_ms t0 span_ms
    local sl=/sys/fs/cgroup/claudine.slice
    hz=$(getconf CLK_TCK)
    d0=$(awk '{print $14 + $15}' "/proc/$(main_pid)/stat"); t0=$(now_ms)
    loud=$(submit alice -- sh -c 'yes claudine-monitor-test | head -c 50000000; sleep 3')
    wait_until 180 "a task printing 50 MB ends" is_terminal "$loud"
    d1=$(awk '{print $14 + $15}' "/proc/$(main_pid)/stat"); span_ms=$(( $(now_ms) - t0 ))
    sleep 8    # the quiet window: a measurement, nothing is waited for
    d2=$(awk '{print $14 + $15}' "/proc/$(main_pid)/stat")
    daemon_ms=$(( (d1 - d0) * 1000 / hz ))
    idle_ms=$(( (d2 - d1) * 1000 / hz * span_ms / 8000 ))
    scope_ms=$(( $(task_json "$loud" | jq '.attempt_history[-1].usage.cpu_usage_usec // 0') / 1000 ))
    note "claudined used ${daemon_ms} ms of CPU in ${span_ms} ms (${idle_ms} ms of it at its quiet rate) while the task (with its relay) used ${scope_ms} ms to print 50 MB; slice: $(grep -E '^(file|file_dirty) ' $sl/memory.stat | xargs)"
    check "... claudined's cost beyond its quiet rate was less than half of what the task used" \
        test $(( (daemon_ms - idle_ms) * 2 )) -lt "$scope_ms"
    ctl alice --json events --task "$loud"
    check_no_match "... and it never looked stalled" 'task:stalled' "$OUT"
    # Events and the metrics history survive a restart; the history goes on.
    ctl alice --json metrics "$busy"
    local before t_restart; before=$(jq '.points | length' <<<"$OUT")
    check "metrics --json: the busy task's history has points" test "${before:-0}" -ge 5
    check "... its CPU share was near a core while it spun" jq -e '[.points[].cpu_percent // 0] | max >= 50' <<<"$OUT"
    t_restart=$(now_ms)
    restart_daemon
    ctl alice --json metrics "$f"
    before=$(jq '.points | length' <<<"$OUT")
    t_restart=$(now_ms)
    restart_daemon
    wait_until 20 "after a restart a running task's history has its points from before, and new ones" \
        bash -c "cd / && claudinectl --json metrics $f | jq -e --argjson t $t_restart '([.points[] | select(.at_ms < \$t)] | length) >= $before and ([.points[] | select(.at_ms > \$t)] | length) >= 1'"
    ctl alice metrics "$busy"
    check_match "metrics: a sparkline per series" 'CPU % .*[▁▂▃▄▅▆▇█]' "$OUT"
    for t in "$idle" "$busy" "$mem" "$f" "$e"; do ctl root cancel "$t"; done
    kill "$fp" 2>/dev/null; pkill -f 'claudinectl --json events --follow'; wait "$fp" 2>/dev/null
    ctl alice --json events --task "$idle"
    check_eq "the stalls and the activity survive a daemon restart (it stalled again after its last line)" \
        "task:queued task:started task:stalled task:active task:stalled task:finished" \
        "$(jq -r .type <<<"$OUT" | xargs)"
    ctl bob metrics "$idle"
    check_eq "bob: metrics of alice's task: not found (exit 1)" 1 "$RC"
    # Passive: journal only.
    local cur p; cur=$(journal_cursor)
    write_config 'cpu_max_percent = 100' 'level = "passive"'
    check "restart at level passive" restart_daemon
    p=$(submit alice --stall-after 2s -- sleep 30)
    wait_until 40 "passive: the stall is in the journal" \
        bash -c "journalctl -q --no-pager -u claudine CLAUDINE_EVENT=task:stalled CLAUDINE_TASK_ID=$p | grep -q idle"
    ctl alice --json events --task "$p"
    check_no_match "... and not recorded as an event" 'task:stalled' "$OUT"
    ctl root cancel "$p"
    write_config
    check "restart with the default configuration" restart_daemon
}

# ============================================================ top
# `claudinectl top` in a real terminal: a tmux pane of 160x40 (its own server
# socket), alice's view. Each pane runs top, then records its exit status and
# the terminal's settings before and after (stty -g) in /tmp/top/NAME.*.
TMUX_TOP=(tmux -L claudine-top)
top_start() {
    local name=$1
    "${TMUX_TOP[@]}" new-session -d -s "$name" -x 160 -y 40 \
        "runuser -u alice -- sh -c 'cd; stty -g > /tmp/top/$name.before; claudinectl top; echo \$? > /tmp/top/$name.exit; stty -g > /tmp/top/$name.after; exec sleep 600'"
}
top_pane() { "${TMUX_TOP[@]}" capture-pane -p -t "$1" 2>/dev/null; }
top_shows() { top_pane "$1" | grep -Eq -- "$2"; }
# top_row ID: task ID's row in the pane (the first column is the id).
top_row() { top_pane "$1" | grep -E "^$2 " | head -1; }
top_row_changed() { local r; r=$(top_row "$1" "$2"); [[ -n $r && $r != "$3" ]]; }
# top_ended NAME HOW: top in pane NAME ended (exit 0) and gave the terminal back as it was.
top_ended() {
    local name=$1 how=$2
    wait_until 15 "top ends on $how" test -s "/tmp/top/$name.exit"
    check_eq "... with exit status 0" 0 "$(cat "/tmp/top/$name.exit" 2>&1)"
    check_eq "... the terminal's settings restored (stty -g before = after)" \
        "$(cat "/tmp/top/$name.before" 2>&1)" "$(cat "/tmp/top/$name.after" 2>&1)"
    check_eq "... alternate screen left, cursor shown" "0 1" \
        "$("${TMUX_TOP[@]}" display -p -t "$name" '#{alternate_on} #{cursor_flag}' 2>&1)"
    check_no_match "... and the shell's screen is not left with a frame" '^host: CPU' "$(top_pane "$name")"
    "${TMUX_TOP[@]}" kill-session -t "$name" 2>/dev/null
}
sec_top() {
    begin "top: alice's live view in a terminal (host, slice, counts, only her rows), redrawn; q, Ctrl-C and SIGTERM restore the terminal; --once, --json, bad input"
    rm -rf /tmp/top; mkdir -m 1777 /tmp/top
    write_config 'max_running = 3' 'cpu_max_percent = 100'
    check "restart with max_running = 3" restart_daemon
    local a1 a2 b1 q0 q1 q2 q3
    a1=$(submit alice -- sleep 300); a2=$(submit alice -- sleep 300); b1=$(submit bob -- sleep 300)
    wait_until 60 "alice's two tasks and bob's run" count_is 3 running "$a1" "$a2" "$b1"
    q1=$(submit alice -- true); q0=$(submit alice --priority P0 -- true); q2=$(submit bob --priority P2 -- true)
    check "three more are queued (max_running = 3)" count_is 3 queued "$q0" "$q1" "$q2"

    top_start q
    wait_until 20 "the frame shows the host line" top_shows q '^host: CPU [0-9]+% busy, memory [0-9.]+ [KMGT]?i?B available of [0-9.]+ [KMGT]?i?B, pressure \(some, 10 s\) cpu [0-9.]+%'
    local pane; pane=$(top_pane q)
    check_match "... the slice line (memory.current of claudine.slice and its ceiling, RAM less the reserve)" \
        '^claudine\.slice: memory [0-9.]+ [KMG]?i?B, ceiling [0-9.]+ [KMG]?i?B; reserved, not yet used: [0-9.]+ [KMG]?i?B; reserve: 1 GiB' "$pane"
    check_match "... the counts of every user's tasks and the caps" \
        '^tasks: 3 running, 3 queued \(P0 1, P1 1, P2 1\); cap: soft 3, hard 3$' "$pane"
    check_match "... why the next task waits" '^waiting: at the hard maximum: 3 of 3 running' "$pane"
    check_match "... alice's running task $a1" "^$a1 +alice +running " "$pane"
    check_match "... alice's running task $a2" "^$a2 +alice +running " "$pane"
    check_no_match "... not bob's task $b1 (nor any row of bob)" "^$b1 +[a-z]+ +running |bob" "$pane"
    check_match "... her queued tasks in start order, P0 first, places in the whole queue" \
        "^1 +$q0 +alice +P0 .*at the hard maximum.* true\$" "$pane"
    check_match "... then $q1" "^2 +$q1 +alice +P1 " "$pane"
    check_no_match "... not bob's queued $q2" "^[0-9]+ +$q2 +[a-z]+ +P[0-2] " "$pane"
    wait_until 20 "... the monitor's figures of her tasks: memory, CPU, activity" \
        top_shows q "^$a1 +alice +running +[0-9.]+ [KM]i?B +[0-9.]+% +[0-9a-z]+ +active: no output yet"
    local row; row=$(top_row q "$a1")
    wait_until 5 "it redraws: task $a1's row changes (its age)" top_row_changed q "$a1" "$row"
    q3=$(submit alice -- true)
    wait_until 5 "it redraws: a task submitted meanwhile ($q3) appears" top_shows q "^3 +$q3 +alice +P1 "
    check_match "... and is counted" '^tasks: 3 running, 4 queued \(P0 1, P1 2, P2 1\)' "$(top_pane q)"
    "${TMUX_TOP[@]}" send-keys -t q q
    top_ended q "q"

    top_start c
    wait_until 20 "a second top shows its frame" top_shows c '^tasks: 3 running'
    "${TMUX_TOP[@]}" send-keys -t c C-c
    top_ended c "Ctrl-C"
    top_start t
    wait_until 20 "a third top shows its frame" top_shows t '^tasks: 3 running'
    local pid; pid=$(pgrep -u alice -x claudinectl | head -1)
    kill -TERM "$pid"
    top_ended t "SIGTERM"

    ctl alice top --once
    check_eq "top --once: exit 0" 0 "$RC"
    check_match "... one frame: the host line" '^host: CPU ' "$OUT"
    check_match "... her rows" "^$a1 +alice +running " "$OUT"
    check_no_match "... not bob's" "^$b1 +[a-z]+ +running |bob" "$OUT"
    check_no_match "... and no escape sequence (not a terminal)" $'\x1b' "$OUT"
    ctl alice top --json
    check "top --json: the endpoint's answer (counts, caps, slice, host)" jq -e '
        .running == 3 and .queued == 4 and .queued_by_priority == {"P0": 1, "P1": 2, "P2": 1}
        and .hard_max == 3 and .soft_max == 3 and .slice.memory_current_bytes > 0
        and .host.mem_total_bytes > 0 and (.host.pressure.memory | type) == "number"' <<<"$OUT"
    check_eq "... alice's rows only: running $a1 $a2, queued $q0 $q1 $q3" "$a1 $a2 / $q0 $q1 $q3" \
        "$(jq -r '"\([.tasks[].id] | join(" ")) / \([.queue[].id] | join(" "))"' <<<"$OUT" 2>&1)"
    check "... with memory and activity from the monitor" \
        jq -e 'all(.tasks[]; .memory_bytes > 0 and (.activity | startswith("active:")))' <<<"$OUT"
    ctl bob top --json
    check_eq "bob's --json: only his rows" "$b1 / $q2" \
        "$(jq -r '"\([.tasks[].id] | join(" ")) / \([.queue[].id] | join(" "))"' <<<"$OUT" 2>&1)"
    ctl dave top --json
    check_eq "dave (admin) sees every row" "3 4" "$(jq -r '"\(.tasks | length) \(.queue | length)"' <<<"$OUT" 2>&1)"
    for bad in 0 abc; do
        ctl alice top --interval "$bad"
        check_eq "top --interval $bad is a usage error (exit 2)" 2 "$RC"
        check_match "... naming the flag" "'--interval <DURATION>'" "$ERR"
    done

    for t in "$a1" "$a2" "$b1" "$q0" "$q1" "$q2" "$q3"; do ctl root cancel "$t"; done
    "${TMUX_TOP[@]}" kill-server 2>/dev/null
    write_config
    check "restart with the default configuration" restart_daemon
}
