# tests/vm/guest/protect.sh - protective mode under real memory pressure,
# and checkpoints with git snapshots (sourced by suite.sh after lib.sh).
# shellcheck shell=bash

mem_available_mib() { awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo; }
memory_of() { cat "/sys/fs/cgroup/claudine.slice/claudine-task-$1.scope/memory.current" 2>/dev/null || echo 0; }
logs_have() { ctl root logs "$1"; grep -q -- "$2" <<<"$OUT"; }
git_as() { local u=$1; shift; runuser -u "$u" -- git "$@"; }
has_requests() { [[ -n $(fake_requests "$1") ]]; }
checkpoint_count() { (cd /root && claudinectl checkpoints "$1" --json 2>/dev/null) | jq "[.checkpoints[] | select(.why == \"$2\")] | length"; }

sec_protect() {
    begin "protect: at level protective, real memory pressure freezes the newest low-priority task (not P0, not the oldest), thaws it afterwards; checkpoints with git snapshots"
    local ALLOC=/usr/local/bin/claudine-alloc h repo base limit a p0 b m1 m2 head0 idx0 st0 cur
    install -m 755 ./alloc.py "$ALLOC"
    h=$(home_of alice)
    # alice's repository: a commit, a modified file, an untracked one, an ignored one.
    repo=$h/protect-repo
    rm -rf "$repo"
    as alice bash -c "mkdir -p $repo && cd $repo && git init -q -b main && git config user.email a@x && git config user.name alice \
        && echo one > tracked.txt && echo 'ignored.log' > .gitignore && git add . && git commit -qm first \
        && echo two >> tracked.txt && echo new > untracked.txt && echo junk > ignored.log"
    head0=$(git_as alice -C "$repo" rev-parse HEAD)
    idx0=$(sha256sum "$repo/.git/index" | cut -d' ' -f1)
    st0=$(git_as alice -C "$repo" status --porcelain | sort | xargs)

    write_config
    check "restart with the default configuration" restart_daemon
    sleep 2
    base=$(mem_available_mib)
    limit=$((base - 450))
    note "MemAvailable at rest: $base MiB; protective mode from $limit MiB"
    write_config 'level = "protective"' "protect_available_mb = $limit" 'checkpoint_interval = "10s"'
    check "restart at level protective (protect_available_mb = $limit, checkpoint_interval = 10s)" restart_daemon

    a=$(submit alice --priority P1 -- "$ALLOC" 100 --hold 900)
    wait_until 60 "the oldest task ($a, P1) holds 100 MiB" logs_have "$a" holding
    p0=$(submit alice --priority P0 -- "$ALLOC" 250 --hold 900)
    wait_until 60 "a P0 task ($p0) holds 250 MiB" logs_have "$p0" holding
    check "... the host is not critical yet ($(mem_available_mib) MiB available)" test "$(mem_available_mib)" -gt "$limit"
    local cursor; cursor=$(journal_cursor)
    # When MemAvailable crosses the line, as seen every 50 ms from outside.
    rm -f /tmp/crossed
    ( while :; do if (( $(mem_available_mib) < limit )); then now_ms > /tmp/crossed; exit 0; fi; sleep 0.05; done ) &
    b=$(submit alice --priority P2 --cwd "$repo" -- "$ALLOC" 500 --rate 20 --hold 900)
    wait_until 120 "the newest P2 task ($b), growing, is frozen by protective mode" is_state "$b" suspended
    check_match "... its reason says protective mode and why" "suspended by protective mode: (MemAvailable|memory pressure)" "$(field "$b" reason)"
    check_eq "... its scope is frozen (cgroup.events)" 1 "$(frozen_of "$b")"
    check_eq "... the P0 task runs on" running "$(state_of "$p0")"
    check_eq "... the oldest task runs on" running "$(state_of "$a")"
    m1=$(memory_of "$b"); sleep 3; m2=$(memory_of "$b")
    check_eq "... it stopped growing (memory.current over 3 s)" "$m1" "$m2"
    note "figure: memory held by the frozen task: $((m2 >> 20)) MiB (still charged to its scope; counted by admission)"
    local line; line=$(journal_since "$cursor" -o cat | grep -m1 "protective mode: freezing task $b")
    check "... the journal says so" test -n "$line"
    ctl alice --json events --task "$b"
    check "... task:suspended was recorded" grep -q '"type":"task:suspended"' <<<"$OUT"
    local frozen_at; frozen_at=$(at_ms "$(jq -c 'select(.type == "task:suspended")' <<<"$OUT" | head -1)")
    note "figure: MemAvailable crossing the line (seen every 50 ms) → task frozen (cgroup.events frozen 1, committed): $(( frozen_at - $(cat /tmp/crossed 2>/dev/null || echo "$frozen_at") )) ms (the host is sampled every 1 s)"

    # The checkpoint taken at the freeze: a git snapshot as alice.
    wait_until 60 "... a checkpoint was taken at the suspend" bash -c "[[ \$(cd /root && claudinectl checkpoints $b --json | jq '[.checkpoints[] | select(.why == \"suspend\")] | length') -ge 1 ]]"
    ctl alice checkpoints "$b"
    check_match "claudinectl checkpoints $b: the snapshot's ref" "refs/claudine/$b/1" "$OUT"
    detail "$OUT"
    check "... the ref exists in alice's repository" git_as alice -C "$repo" rev-parse -q --verify "refs/claudine/$b/1"
    check_eq "... holding the modified and the untracked file, not the ignored one" \
        ".gitignore tracked.txt untracked.txt" "$(git_as alice -C "$repo" ls-tree --name-only "refs/claudine/$b/1" | xargs)"
    check_eq "... tracked.txt as it was at the freeze" "$(printf 'one\ntwo')" "$(git_as alice -C "$repo" show "refs/claudine/$b/1:tracked.txt")"
    check_eq "... alice's HEAD is untouched" "$head0" "$(git_as alice -C "$repo" rev-parse HEAD)"
    check_eq "... her index is byte for byte the same" "$idx0" "$(sha256sum "$repo/.git/index" | cut -d' ' -f1)"
    check_eq "... her status too" "$st0" "$(git_as alice -C "$repo" status --porcelain | sort | xargs)"
    check_eq "... no stash" "" "$(git_as alice -C "$repo" stash list)"
    check_eq "... her branches: main only" "refs/heads/main" "$(git_as alice -C "$repo" for-each-ref --format='%(refname)' refs/heads | xargs)"
    check_eq "... nothing in her .git belongs to root" "" "$(find "$repo/.git" -user root | head -3)"
    ctl bob checkpoints "$b"
    check_match "bob cannot see alice's checkpoints (not found)" "not found" "$ERR"
    wait_until 60 "a running task is checkpointed every checkpoint_interval (10 s)" bash -c "[[ \$(cd /root && claudinectl checkpoints $a --json | jq '[.checkpoints[] | select(.why == \"interval\")] | length') -ge 1 ]]"
    ctl alice checkpoints "$a"
    check_match "... outside a repository it says so" "not in a git repository" "$OUT"

    # Resources return: the P0 and the oldest task end; after 15 s of calm
    # the frozen task is thawed, and it grows to its end.
    ctl alice cancel "$p0"; ctl alice cancel "$a"
    wait_until 60 "the P0 and the oldest task are cancelled" bash -c "[[ \$(cd /root && claudinectl status $p0 --json | jq -r .state) == cancelled && \$(cd /root && claudinectl status $a --json | jq -r .state) == cancelled ]]"
    wait_until 90 "protective mode thaws the frozen task once memory is back (hysteresis: 15 s calm)" is_state "$b" running
    check_eq "... its scope is thawed" 0 "$(frozen_of "$b")"
    check "... the journal says why" bash -c "journalctl -q --no-pager -u claudine -o cat | grep -q 'protective mode: thawing task $b: memory is back'"
    wait_until 120 "... it grows again, to its 500 MiB" logs_have "$b" "allocated 500 MiB"
    check_eq "... and, now the oldest running task, is not frozen again" running "$(state_of "$b")"
    ctl alice --json events --task "$b"
    check "... task:resumed was recorded" grep -q '"type":"task:resumed"' <<<"$OUT"
    ctl alice cancel "$b"
    wait_until 60 "cancelled" is_state "$b" cancelled

    # The cold path: a Claude task frozen longer than protect_cold_after is
    # checkpointed, stopped and queued again; relaunched, it resumes its session.
    write_config
    check "restart with the default configuration" restart_daemon
    check "the fake Messages API (for the Claude tasks)" claude_setup
    local ballast cl sid avail
    # A Claude task frozen while the API streams its answer, then thawed: it finishes.
    cl=$(submit alice --permission-mode bypassPermissions "A slow answer.
@delay-ms 1500
@say streamed slowly to the end")
    sid=$(session_of "$cl")
    wait_until 120 "a Claude task ($cl) is receiving a slow stream from the API" has_requests "$sid"
    ctl alice suspend "$cl"
    check_eq "... suspended mid-stream" "0 suspended $cl" "$RC $OUT"
    sleep 5
    check_eq "... still frozen 5 s later" 1 "$(frozen_of "$cl")"
    ctl alice resume "$cl"
    check_eq "... resumed" "0 resumed $cl" "$RC $OUT"
    wait_until 120 "... and it finishes" is_state "$cl" succeeded
    check_match "... with the whole answer" "streamed slowly to the end" "$(ctl alice logs "$cl"; echo "$OUT")"
    ballast=$(submit alice --priority P1 -- "$ALLOC" 100 --hold 900)
    wait_until 60 "an older task ($ballast) holds 100 MiB" logs_have "$ballast" holding
    rm -f /tmp/cold-go
    cl=$(submit alice --priority P2 --permission-mode bypassPermissions "A long tool call.
@bash until [ -e /tmp/cold-go ]; do sleep 1; done; echo released
@say done after the cold suspension")
    wait_until 120 "a Claude task ($cl) runs its tool (waiting for a file)" bash -c "pgrep -u alice -f cold-go >/dev/null"
    sid=$(session_of "$cl")
    avail=$(mem_available_mib)
    write_config 'level = "protective"' "protect_available_mb = $((avail + 200))" 'protect_cold_after = "10s"'
    check "restart at level protective with the host already critical ($avail MiB available, line at $((avail + 200))), protect_cold_after = 10s" restart_daemon
    wait_until 60 "the Claude task (newest, P2) is frozen" is_state "$cl" suspended
    check_eq "... not the older task" running "$(state_of "$ballast")"
    wait_until 90 "after 10 s frozen it is cold-suspended: checkpointed, stopped and queued again, then relaunched" \
        bash -c "[[ \$(cd /root && claudinectl status $cl --json | jq -r .attempts) == 2 ]]"
    check_eq "... a cold checkpoint was taken first" 1 "$(checkpoint_count "$cl" cold)"
    check_match "... the first attempt says why it ended" "cold-suspended: frozen by protective mode for" \
        "$(jq -r '.attempt_history[0].reason // empty' <<<"$(task_json "$cl")")"
    touch /tmp/cold-go
    wait_until 180 "... the relaunched task finishes" is_state "$cl" succeeded
    check_eq "... in the same session, which it resumed (the API saw the earlier turns)" "$sid true" \
        "$(session_of "$cl") $(fake_requests "$sid" | tail -1 | jq -r .earlier_turns)"
    ctl alice cancel "$ballast"
    wait_until 60 "cancelled" is_state "$ballast" cancelled
    systemctl stop fake-anthropic 2>/dev/null
    write_config
    check "restart with the default configuration" restart_daemon
}
