# tests/vm/guest/autoscale.sh - the autoscaling sections of the suite (sourced
# by suite.sh after lib.sh): admission on memory with reservations, the
# slice's budget, P0 first, fair share, caps, profiles, refusals.
# shellcheck shell=bash

ALLOC=/usr/local/bin/claudine-alloc
GIB=$((1 << 30))

mem_available() { awk '/^MemAvailable:/ {print $2 * 1024}' /proc/meminfo; }
mem_total() { awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo; }
oom_kills() { awk '/^oom_kill / {print $2}' /proc/vmstat; }
running_scopes() { compgen -G '/sys/fs/cgroup/claudine.slice/claudine-task-*.scope' | wc -l; }
started_ms() { field "$1" started_ms; }

# sample_host FILE: every 100 ms "ms MemAvailable running-scopes", until killed.
sample_host() {
    while :; do
        printf '%s %s %s\n' "${EPOCHREALTIME/./}" "$(mem_available)" "$(running_scopes)"
        sleep 0.1
    done > "$1"
}

sec_autoscale() {
    begin "autoscale: a burst larger than RAM, zero configuration: no OOM kill, the reserve kept, several at once, P0 first, reasons in words"
    install -m 755 ./alloc.py "$ALLOC"
    : > "$CONF"
    check "restart with the default configuration (no file)" restart_daemon
    local total ceiling
    total=$(mem_total)
    ceiling=$((total - GIB))
    check_eq "claudine.slice: MemoryHigh = RAM less the 1 GiB reserve (throttle there)" "$ceiling" \
        "$(systemctl show -P MemoryHigh claudine.slice)"
    check_eq "... MemoryMax half the reserve above (the hard stop)" "$((ceiling + GIB / 2))" \
        "$(systemctl show -P MemoryMax claudine.slice)"
    ctl alice submit --min-memory 64G -- true
    check_eq "--min-memory 64G on a $((total >> 20)) MiB guest: refused (exit 1)" 1 "$RC"
    check_match "... saying why, with the figures" 'min-memory 64 GiB can never be met here: tasks may use at most' "$ERR"
    ctl alice submit --memory 0 -- true
    check_eq "--memory 0 is a usage error (exit 2)" 2 "$RC"

    # 12 tasks of 200 MiB each (2.4 GiB) on a 2 GiB guest, all at once,
    # each growing at 100 MiB/s and holding for 4 s.
    local oom0 samples=/tmp/autoscale.samples sampler ids=() p0 i
    oom0=$(oom_kills)
    sample_host "$samples" &
    sampler=$!
    for i in $(seq 12); do
        ids+=("$(submit alice --memory 210M -- "$ALLOC" 200 --rate 100 --hold 4)")
    done
    wait_until 60 "the burst: some wait, saying why in words" \
        bash -c "cd /root && claudinectl list --all | grep -Eq 'waiting: (waiting for memory: ([0-9.]+ [KMG]i?B free, needs 210 MiB \\+ 1 GiB reserve|the tasks hold [0-9.]+ [KMG]i?B of their [0-9.]+ [KMG]i?B ceiling, needs 210 MiB)|behind [0-9]+ P1 tasks?)'" \
        || detail "$(cd /root && claudinectl list --all | grep -o 'waiting: .*' | sort | uniq -c)"
    local queued_at_p0
    p0=$(submit alice --priority P0 --memory 110M -- "$ALLOC" 100 --rate 100 --hold 1)
    # The P1s still queued once the P0 is in the queue must all start after it.
    queued_at_p0=$(all_json | jq -c --argjson ids "$(printf '%s\n' "${ids[@]}" | jq -sc 'map(tonumber)')" \
        '[.tasks[] | select((.id as $i | $ids | index($i)) and .state == "queued") | .id]')
    wait_until 400 "all 13 end" all_terminal "${ids[@]}" "$p0"
    kill "$sampler"; wait "$sampler" 2>/dev/null
    check_eq "all 13 succeeded" 13 "$(count_state succeeded "${ids[@]}" "$p0")"
    check_eq "no OOM kill anywhere on the host (/proc/vmstat oom_kill)" "$oom0" "$(oom_kills)"
    local under max_run
    under=$(awk -v r="$GIB" '$2 < r {n++} END {print n + 0}' "$samples")
    max_run=$(awk '$3 > m {m = $3} END {print m + 0}' "$samples")
    note "$(wc -l < "$samples") host samples: $under under the reserve, at most $max_run tasks at once, min MemAvailable $(awk 'NR == 1 || $2 < m {m = $2} END {printf "%d MiB", m / 1048576}' "$samples")"
    check "MemAvailable under the 1 GiB reserve for at most a moment (<= 3 samples of 100 ms)" test "$under" -le 3
    check "more than one task ran at once" test "$max_run" -ge 2
    local p0_start later
    p0_start=$(started_ms "$p0")
    later=$(for i in $(jq -r '.[]' <<<"$queued_at_p0"); do [[ $(started_ms "$i") -gt $p0_start ]] && echo "$i"; done | wc -l)
    check_eq "the P0 started before every P1 still queued when it came ($(jq length <<<"$queued_at_p0") of them)" \
        "$(jq length <<<"$queued_at_p0")" "$later"

    # A command never seen, no --memory: the first one probes; the others of
    # its kind wait until it has shown its size (grown past the default of
    # a fifth of the ceiling, here), then start on what it was seen to need.
    local u=() gap
    for i in 1 2 3; do u+=("$(submit alice -- "$ALLOC" 151 --rate 25 --hold 2)"); done
    wait_until 30 "unknown command: the second waits for the first to show its size" \
        bash -c "cd /home/alice && claudinectl status ${u[1]} | grep -q 'waiting for task ${u[0]}, of the same command, to show how much memory it needs'"
    wait_until 120 "... all three end" all_terminal "${u[@]}"
    check_eq "... all three succeeded" 3 "$(count_state succeeded "${u[@]}")"
    gap=$(( $(started_ms "${u[1]}") - $(started_ms "${u[0]}") ))
    note "the second started ${gap} ms after the first"
    check "... the second started only once the first had grown (>= 3 s later)" test "$gap" -ge 3000
}

sec_fairshare() {
    begin "fairshare: caps from the profile and the keys, the soft maximum warns, one user's queue does not hold another's task"
    write_config 'profile = "fast"'
    local cur; cur=$(journal_cursor)
    check_not "profile = \"fast\": the daemon refuses to start" restart_daemon
    wait_until 15 "... journalctl names the key and the profiles" \
        journal_has "$cur" "key .profile.: unknown profile \"fast\": expected development, balanced or production"
    write_config 'soft_max_concurrent = 20' 'hard_max_concurrent = 10'
    cur=$(journal_cursor)
    check_not "soft above hard: refused" restart_daemon
    wait_until 15 "... naming soft_max_concurrent" journal_has "$cur" "soft_max_concurrent.: 20 is above the hard maximum 10"
    write_config 'soft_max_concurrent = 1' 'hard_max_concurrent = 2'
    check "restart with soft 1, hard 2" restart_daemon
    local a=() b i l
    for i in 1 2 3 4 5; do a+=("$(submit alice --memory 8M -- sleep 8)"); done
    wait_until 30 "alice: 2 run (the hard maximum)" count_is 2 running "${a[@]}"
    l=$(submit alice -- "$ALLOC" 200)
    b=$(submit bob --memory 8M -- sleep 1)
    check_eq "... and never more" 2 "$(count_state running "${a[@]}")"
    check_match "the others wait at the hard maximum" "at the hard maximum: 2 of 2 running" "$(field "${a[2]}" waiting_reason)"
    check_eq "a queued allocator of the same kind (claudine-alloc 200) without --memory: expected memory learned from the burst" learned \
        "$(field "$l" expected_memory_source)"
    check "... at least the 200 MiB the burst's tasks peaked at" \
        test "$(field "$l" expected_memory_bytes)" -ge $((200 << 20))
    ctl alice status "$l"
    check_match "status: expected memory, in words" 'expected memory: +2[0-9.]+ MiB \(learned from past runs' "$OUT"
    wait_until 60 "bob's one task ends" all_terminal "$b"
    check "bob's task started before alice's 3rd (fair share: she had 2 running, he none)" \
        test "$(started_ms "$b")" -lt "$(started_ms "${a[2]}")"
    wait_until 90 "alice's 6 end" all_terminal "${a[@]}" "$l"
    local ev
    ev=$(cd /root && claudinectl events --json 2>/dev/null | jq -c 'select(.type == "task:over-soft-max")' | tail -1)
    check_match "task:over-soft-max when a start passed the soft maximum of 1" '"reason":"2 tasks running, above the soft maximum of 1' "$ev"
    : > "$CONF"
    check "restart with the default configuration" restart_daemon
}
