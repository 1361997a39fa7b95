# tests/vm/guest/foundation.sh - sections of the acceptance suite for the
# foundation issue: what two users' tasks share (nothing), admission on fresh
# data, faults between `go` and the Running commit, quotas, floods of
# followers and waiters, a full disk, secrets in the database. Sourced by
# suite.sh after lib.sh; each section is a sec_* function.
# shellcheck shell=bash

# ============================================================ separation
sec_separation() {
    begin "separation: alice's and bob's tasks share no keyring, file, umask, limit or unit metadata"
    printf '%s\n' 'alice soft nofile 2048' 'alice hard nofile 4096' > /etc/security/limits.d/claudine-test.conf
    rm -rf /tmp/sep; mkdir -m 1777 /tmp/sep
    local ia ib
    # alice's task keeps a secret in its session keyring while bob's looks for it.
    ia=$(submit alice -- sh -c 'keyctl add user claudine-secret hunter2-alice @s >/dev/null &&
        keyctl describe @s > /tmp/sep/a.ses; keyctl show @s > /tmp/sep/a.keys;
        ulimit -Sn > /tmp/sep/a.nofile; ulimit -Hn >> /tmp/sep/a.nofile;
        touch /tmp/sep/a.file; mkdir /tmp/sep/a.dir;
        while [ ! -e /tmp/sep/release ]; do sleep 0.2; done')
    wait_until 60 "alice's task $ia holds a key in its session keyring" test -s /tmp/sep/a.ses
    ib=$(submit bob --umask 077 -- sh -c '
        if keyctl search @s user claudine-secret >/dev/null 2>&1; then echo FOUND; else echo none; fi > /tmp/sep/b.search;
        keyctl describe @s > /tmp/sep/b.ses; keyctl show @s > /tmp/sep/b.keys;
        ulimit -Sn > /tmp/sep/b.nofile; ulimit -Hn >> /tmp/sep/b.nofile; touch /tmp/sep/b.file')
    wait_until 60 "bob's task $ib ends" is_terminal "$ib"
    check_eq "bob's task succeeded" succeeded "$(state_of "$ib")"
    check_eq "bob's task cannot find the key alice's task added (keyctl search @s)" none "$(cat /tmp/sep/b.search 2>&1)"
    # The keyring's serial: the first field of the second line of `keyctl show @s`.
    local sa sb; sa=$(awk 'NR==2{print $1}' /tmp/sep/a.keys); sb=$(awk 'NR==2{print $1}' /tmp/sep/b.keys)
    if [[ -n $sa && -n $sb && $sa != "$sb" ]]; then pass "each task has its own session keyring ($sa, $sb)"
    else fail "each task has its own session keyring"; note "alice: $(cat /tmp/sep/a.keys) bob: $(cat /tmp/sep/b.keys)"; fi
    check_eq "alice's session keyring is owned by alice" "$(id -u alice)" "$(awk '{print $3}' /tmp/sep/a.ses)"
    check_eq "bob's session keyring is owned by bob" "$(id -u bob)" "$(awk '{print $3}' /tmp/sep/b.ses)"
    check_match "alice's session keyring links her user keyring (as pam_keyinit does)" "_uid\.$(id -u alice)" "$(cat /tmp/sep/a.keys)"
    check_eq "umask: alice submitted with umask 022 -> her file is 644" "644 alice" "$(stat -c '%a %U' /tmp/sep/a.file 2>&1)"
    check_eq "umask: ... and her directory 755" 755 "$(stat -c '%a' /tmp/sep/a.dir 2>&1)"
    check_eq "umask: bob's --umask 077 -> his file is 600" "600 bob" "$(stat -c '%a %U' /tmp/sep/b.file 2>&1)"
    check_eq "status shows bob's umask (63 = 0o077)" 63 "$(field "$ib" umask)"
    # The base is what the service was started with (claudined raises its own
    # soft limit afterwards, for the monitor's open files; tasks never get that).
    local dmn; dmn="$(systemctl show -P LimitNOFILESoft claudine) $(systemctl show -P LimitNOFILE claudine)"
    check_eq "rlimits: alice gets her limits.conf nofile (soft 2048, hard 4096)" "2048 4096" "$(xargs < /tmp/sep/a.nofile)"
    check_eq "rlimits: bob gets a login's default nofile (the service's base: $dmn)" "$dmn" "$(xargs < /tmp/sep/b.nofile)"
    check_eq "... while claudined itself runs with its soft limit raised to the hard one" "$(systemctl show -P LimitNOFILE claudine)" \
        "$(awk '/^Max open files/{print $4}' /proc/"$(main_pid)"/limits)"
    local desc; desc=$(systemctl show -P Description "claudine-task-$ia.scope")
    check_eq "the scope's Description names only the task" "claudine task $ia (attempt 1)" "$desc"
    local units; units=$(runuser -u bob -- systemctl list-units --all --no-pager 'claudine-task-*' 2>&1)
    check_match "bob: systemctl list-units shows alice's scope" "claudine-task-$ia\.scope" "$units"
    check_no_match "... but not her name or her command line" 'alice|hunter2|keyctl' "$units"
    check_no_match "bob: systemctl show of alice's scope has neither" 'alice|hunter2|keyctl' \
        "$(runuser -u bob -- systemctl show "claudine-task-$ia.scope" 2>&1 | grep -v '^User=$')"
    local f ok=1
    for f in out err log; do
        [[ $(stat -c '%a %U' "$STATE/logs/$ia.$f" 2>&1) == "600 alice" ]] || { ok=0; note "$ia.$f: $(stat -c '%a %U' "$STATE/logs/$ia.$f" 2>&1)"; }
    done
    ((ok)) && pass "alice's .out, .err and .log are 0600 and hers" || fail "alice's log files are 0600 and hers"
    check_not "bob cannot read alice's log file" runuser -u bob -- cat "$STATE/logs/$ia.log"
    ctl bob logs --stdout "$ia"
    check_match "bob: logs --stdout of alice's task is 'not found'" 'not found' "$ERR"
    local st; st=$(runuser -u bob -- curl -s --unix-socket "$SOCK" http://localhost/v1/status)
    check_eq "bob: GET /v1/status gives counts only" \
        '["log_followers","queued","running","version","waiters"]' "$(jq -c 'keys' <<<"$st" 2>&1)"
    check_no_match "bob: the status answer names no user and no task" 'alice|hunter2' "$st"
    touch /tmp/sep/release
    wait_until 30 "alice's task ends" is_terminal "$ia"
    rm -f /etc/security/limits.d/claudine-test.conf
}

# ============================================================ fresh
sec_fresh() {
    begin "admission decides on fresh data: 30 submitted at once start one host sample apart"
    write_config
    check "restart with the default configuration" restart_daemon
    local ids=() i
    for i in $(seq 1 30); do ids+=("$(submit alice -- sleep 3)"); done
    wait_until 240 "all 30 tasks end" all_terminal "${ids[@]}"
    check_eq "all 30 succeeded" 30 "$(count_state succeeded "${ids[@]}")"
    local launched
    launched=$(for i in "${ids[@]}"; do task_json "$i" | jq -r '.attempt_history[0].launched_ms'; done | sort -n)
    local gaps; gaps=$(awk 'NR>1{print $1-p} {p=$1}' <<<"$launched" | sort -n)
    note "gaps between launches (ms): min $(head -1 <<<"$gaps"), median $(sed -n 15p <<<"$gaps"), max $(tail -1 <<<"$gaps")"
    check "no two launches less than admission_settle_ms (250 ms) apart" test "$(head -1 <<<"$gaps")" -ge 250
    local spans most
    spans=$(for i in "${ids[@]}"; do task_json "$i" | jq -c '[.started_ms, .finished_ms]'; done | jq -s .)
    most=$(jq '. as $all | [$all[] as [$s, $f] | [$all[] | select(.[0] <= $s and $s < .[1])] | length] | max' <<<"$spans")
    note "most tasks running at once: $most"
    check "several ran at once (resources decide, not a fixed worker)" test "$most" -ge 2
}

# ============================================================ faults
# A claudined built with fault-injection points (run.sh builds it) replaces
# the packaged one for this section only.
use_fault_daemon() {
    mkdir -p /etc/systemd/system/claudine.service.d
    printf '%s\n' '[Service]' 'ExecStart=' "ExecStart=/mnt/testbed/claudined-fault" \
        > /etc/systemd/system/claudine.service.d/fault.conf
    systemctl daemon-reload
    restart_daemon
}
use_packaged_daemon() {
    rm -f /etc/systemd/system/claudine.service.d/fault.conf /run/claudine-fault
    systemctl daemon-reload
    restart_daemon
}
sec_faults() {
    begin "faults: cancel while Starting; kill -9 between go and the Running commit"
    if [[ ! -x /mnt/testbed/claudined-fault ]]; then fail "no fault-injection claudined in /mnt/testbed"; return; fi
    check "run the fault-injection claudined" use_fault_daemon
    rm -rf /tmp/f; mkdir -m 1777 /tmp/f
    echo pause-before-scope > /run/claudine-fault
    local c; c=$(submit alice -- sh -c 'echo ran > /tmp/f/c')
    wait_until 10 "task $c is starting (its scope creation is held)" is_state "$c" starting
    ctl alice cancel "$c" --reason "cancelled while starting"
    check_eq "alice: cancel of a starting task exits 0" 0 "$RC"
    wait_until 30 "task $c ends" is_terminal "$c"
    check_eq "it ends cancelled, not failed" "cancelled|cancelled while starting" "$(field "$c" state)|$(field "$c" reason)"
    check_not "its command never ran" test -e /tmp/f/c
    wait_until 20 "its scope is gone" scope_gone "$c"

    local pid0 g1 g2
    pid0=$(main_pid)
    echo after-go > /run/claudine-fault
    g1=$(submit alice -- sh -c 'echo run >> /tmp/f/g1; sleep 4')
    wait_until 30 "claudined died after go and systemd restarted it" restarted_since "$pid0"
    check_match "the journal shows where it died" 'fault injection: aborting at after-go' \
        "$(journalctl -q --no-pager -u claudine -n 200 | grep 'fault injection')"
    wait_until 60 "task $g1 ends" is_terminal "$g1"
    check_eq "task $g1 (running when the daemon died) succeeded, attempt 1" "succeeded 1" "$(field "$g1" state) $(field "$g1" attempts)"
    check_eq "... and its command ran exactly once" run "$(cat /tmp/f/g1 2>&1)"
    pid0=$(main_pid)
    echo after-go > /run/claudine-fault
    g2=$(submit alice -- sh -c 'echo run >> /tmp/f/g2')
    wait_until 30 "claudined died after go again and came back" restarted_since "$pid0"
    wait_until 60 "task $g2 ends" is_terminal "$g2"
    check_eq "task $g2 (ended while the daemon was down) succeeded, attempt 1" "succeeded 1" "$(field "$g2" state) $(field "$g2" attempts)"
    check_eq "... and its command ran exactly once" run "$(cat /tmp/f/g2 2>&1)"
    check "back to the packaged claudined" use_packaged_daemon
}

# ============================================================ quota
sec_quota() {
    begin "quota: a user over max_queued_per_user gets a clear error; others are not held"
    write_config 'max_queued_per_user = 3'
    check "restart with max_queued_per_user = 3" restart_daemon
    local b=() i
    for i in 1 2 3; do b+=("$(submit bob -- sleep 600)"); done
    check_eq "bob: 3 tasks accepted" 3 "$(printf '%s\n' "${b[@]}" | grep -c '^[0-9]')"
    ctl bob submit -- true
    check_eq "bob: a 4th submit exits 1" 1 "$RC"
    check_match "... saying which limit" 'already has 3 unfinished tasks.*max_queued_per_user' "$ERR"
    local a; a=$(submit alice -- true)
    check "alice is not held by bob's quota" test -n "$a"
    ctl bob cancel "${b[0]}"
    wait_until 20 "bob's first task is cancelled" is_terminal "${b[0]}"
    local b4; b4=$(submit bob -- true)
    check "bob may submit again once one of his tasks ended" test -n "$b4"
    for i in "${b[@]:1}"; do ctl bob cancel "$i"; done
    write_config
    check "restart with the default configuration" restart_daemon
}

# ============================================================ flood
status_field() { curl -s --unix-socket "$SOCK" http://localhost/v1/status | jq -r ".$1"; }
status_is() { [[ $(status_field "$1") == "$2" ]]; }
inotify_fds() { find /proc/"$(main_pid)"/fd -lname 'anon_inode:inotify' 2>/dev/null | wc -l; }
sec_flood() {
    begin "flood: 100 logs -f and 100 wait connections of one user"
    local id; id=$(submit alice -- sh -c 'while :; do echo tick; sleep 1; done')
    wait_until 30 "alice's task $id runs" is_state "$id" running
    local before; before=$(inotify_fds)
    local pids=() i
    for i in $(seq 1 100); do
        as alice claudinectl logs -f "$id" >/dev/null 2>&1 & pids+=($!)
        as alice claudinectl wait "$id" >/dev/null 2>&1 & pids+=($!)
    done
    wait_until 60 "the daemon holds alice's followers and waiters (64-connection cap per user)" \
        bash -c '[[ $(curl -s --unix-socket '"$SOCK"' http://localhost/v1/status | jq ".log_followers + .waiters") -ge 60 ]]'
    note "followers $(status_field log_followers), waiters $(status_field waiters)"
    check_eq "claudined still uses the inotify instances it had ($before), one for every follower" "$before" "$(inotify_fds)"
    ctl alice list
    check_eq "alice's 65th connection gets an answer, not a hang-up: exit 1" 1 "$RC"
    check_match "... saying why" 'already holds 64 connections' "$ERR"
    local t0; t0=$(now_ms)
    ctl bob list
    check_eq "bob is served meanwhile" 0 "$RC"
    note "bob's list took $(( $(now_ms) - t0 )) ms"
    # The clients are runuser's children: kill them, not the subshells.
    pkill -u alice -f 'claudinectl (logs -f|wait)'
    wait "${pids[@]}" 2>/dev/null
    wait_until 10 "disconnected waiters are dropped" status_is waiters 0
    wait_until 10 "disconnected followers are dropped" status_is log_followers 0
    ctl root cancel "$id"
}

# ============================================================ disk full
# /var/lib/claudine on a 48 MiB tmpfs for this section.
sec_diskfull() {
    begin "disk full: reserve refuses submits, output is capped, commits succeed, nothing invented"
    wait_until 60 "no task of earlier sections is still active" \
        bash -c '[[ $(cd /root && claudinectl list --json | jq ".running") == 0 ]]'
    systemctl stop claudine
    rm -rf /var/lib/claudine.disk; cp -a /var/lib/claudine /var/lib/claudine.disk
    mount -t tmpfs -o size=48m,mode=0700 tmpfs /var/lib/claudine
    # Only the database: the earlier tasks' logs stay on the real disk.
    cp -a /var/lib/claudine.disk/claudine.db* /var/lib/claudine/
    write_config 'min_free_disk_mb = 16' 'log_max_mb = 4'
    check "start on a 48 MiB state filesystem, reserve 16 MiB, log cap 4 MiB" start_daemon
    local big; big=$(submit alice -- sh -c 'head -c 10000000 /dev/zero | tr "\0" a; echo; echo done >&2')
    wait_until 60 "a task printing 10 MB ends" is_terminal "$big"
    check_eq "it succeeded (never blocked by the cap)" succeeded "$(state_of "$big")"
    local size; size=$(stat -c %s "$STATE/logs/$big.out")
    check "its stdout log is cut near 4 MiB ($size bytes)" test "$size" -ge 4194304 -a "$size" -le 4300000
    check_match "the log says where and why it was cut" 'claudine: stdout cut at 4194304 bytes' "$(tail -c 300 "$STATE/logs/$big.out")"
    check_eq "stderr was kept" done "$(cat "$STATE/logs/$big.err" 2>&1)"
    check "status counts the dropped bytes" test "$(task_json "$big" | jq '.attempt_history[0].output.stdout_dropped')" -gt 5000000

    rm -rf /tmp/df; mkdir -m 1777 /tmp/df
    local held; held=$(submit alice -- sh -c 'while [ ! -e /tmp/df/go ]; do sleep 0.2; done; exit 5')
    wait_until 30 "a task that waits for a signal runs" is_state "$held" running
    local avail; avail=$(df --output=avail -B1 /var/lib/claudine | tail -1)
    fallocate -l $(( avail - 8 * 1024 * 1024 )) /var/lib/claudine/filler
    note "free on the state filesystem: $(df --output=avail -h /var/lib/claudine | tail -1)"
    ctl alice submit -- true
    check_eq "below the reserve: submit exits 1" 1 "$RC"
    check_match "... and says why" 'free on /var/lib/claudine.*min_free_disk_mb.*refused' "$ERR"
    ctl bob submit -- true
    check_eq "... for every user" 1 "$RC"
    ctl root list
    check_eq "the daemon still answers" 0 "$RC"

    # Now nothing at all is free: the end of $held cannot be committed.
    avail=$(df --output=avail -B1 /var/lib/claudine | tail -1)
    fallocate -l "$avail" /var/lib/claudine/filler2 2>/dev/null || dd if=/dev/zero of=/var/lib/claudine/filler2 bs=1M 2>/dev/null
    local cur; cur=$(journal_cursor)
    touch /tmp/df/go
    wait_until 30 "the task's command ended" bash -c "! pgrep -f 'while \[ ! -e /tmp/df/go' >/dev/null"
    poll 5 is_terminal "$held"
    check_eq "with a full disk the end is not invented: still running" running "$(state_of "$held")"
    rm -f /var/lib/claudine/filler2
    wait_until 30 "space back: the task ends with its real exit status" is_terminal "$held"
    check_eq "failed with exit code 5" "failed 5" "$(field "$held" state) $(field "$held" exit_code)"
    rm -f /var/lib/claudine/filler
    local ok; ok=$(submit alice -- true)
    check "above the reserve again: submit works" test -n "$ok"
    note "journal while full: $(journal_since "$cur" | grep -cE 'cannot record|No space') error line(s)"

    systemctl stop claudine
    rm -rf /var/lib/claudine.disk; mkdir /var/lib/claudine.disk
    cp -a /var/lib/claudine/. /var/lib/claudine.disk/
    umount /var/lib/claudine
    cp -a /var/lib/claudine.disk/. /var/lib/claudine/
    rm -rf /var/lib/claudine.disk
    write_config
    check "back on the real disk" start_daemon
}

# ============================================================ secrets
sec_secrets() {
    begin "secrets: an environment value leaves no trace in the database files once its task ended"
    local secret="hunter2-sekrit-$RANDOM$RANDOM"
    local id; id=$(submit alice -e "TOKEN=$secret" -- sh -c 'test -n "$TOKEN"')
    wait_until 60 "task $id ends" is_terminal "$id"
    check_eq "the task saw the value" succeeded "$(state_of "$id")"
    check_eq "status shows the name only" '["TOKEN"]' "$(task_json "$id" | jq -c .env_keys)"
    wait_until 10 "the value is in none of claudine.db, -wal, -shm" \
        bash -c "! grep -qa '$secret' $STATE/claudine.db $STATE/claudine.db-wal $STATE/claudine.db-shm 2>/dev/null"
    check_no_match "nor in the journal" "$secret" "$(journalctl -q --no-pager -u claudine -n 500)"
}
