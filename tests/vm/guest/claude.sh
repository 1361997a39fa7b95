# tests/vm/guest/claude.sh - Claude Code tasks with the real claude CLI (the
# pinned npm release, copied in by run.sh) against the project's fake of the
# Messages API (examples/fake_anthropic, scripted by @ lines in the prompt).
# Sourced by suite.sh after lib.sh. Users keep their credentials in
# ~/.config/claudine/env, as a user of the product would.
# shellcheck shell=bash

FAKE_PORT=18080
FAKE_LOG=/var/log/fake-anthropic.jsonl
CLAUDE_BIN=/usr/local/bin/claude

# fake_requests SESSION: the fake's records for a session, one JSON per line.
fake_requests() { jq -c --arg s "$1" 'select(.session_id == $s)' "$FAKE_LOG" 2>/dev/null; }
# claude_field ID JQ: a field of the task's claude view.
claude_field() { task_json "$1" | jq -r ".claude$2 // empty"; }
session_of() { claude_field "$1" .session_id; }
# escaped_of ID: task:escaped events of a task (as root).
escaped_of() { (cd /root && claudinectl --json events --task "$1" 2>/dev/null) | jq -c 'select(.type == "task:escaped")'; }
# all_in_scope: every claude process on the host runs in a claudine task scope.
claude_procs_outside() {
    local p cg
    for p in $(pgrep -x claude); do
        cg=$(cat "/proc/$p/cgroup" 2>/dev/null) || continue
        [[ $cg == *"/claudine.slice/claudine-task-"*".scope" ]] || echo "$p $cg"
    done
}

# claude_setup: the CLI, the fake API (started), alice's and bob's credentials.
claude_setup() {
    claude_install || return 1
    systemd-run --quiet --unit=fake-anthropic --property=Restart=no \
        /usr/local/bin/fake_anthropic --port "$FAKE_PORT" --log "$FAKE_LOG" || return 1
    poll 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$FAKE_PORT"
}

# claude_install: the same without starting the fake API (an empty log).
claude_install() {
    local u h
    install -m 755 /mnt/testbed/claude "$CLAUDE_BIN" || return 1
    install -m 755 /mnt/testbed/fake_anthropic /usr/local/bin/fake_anthropic || return 1
    : > "$FAKE_LOG"; chmod 644 "$FAKE_LOG"
    for u in alice bob; do
        h=$(home_of "$u")
        install -d -o "$u" -g "$u" -m 700 "$h/.config" "$h/.config/claudine" "$h/proj"
        printf '%s\n' "# Claude Code for claudine tasks (the test guest's fake API)" \
            "ANTHROPIC_BASE_URL=http://127.0.0.1:$FAKE_PORT" \
            "ANTHROPIC_API_KEY=sk-test-$u" \
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" \
            "CLAUDE_CODE_MAX_RETRIES=0" > "$h/.config/claudine/env"
        chown "$u:$u" "$h/.config/claudine/env"; chmod 600 "$h/.config/claudine/env"
    done
}

sec_claude() {
    begin "claude: Claude Code tasks with the real CLI $(/mnt/testbed/claude --version 2>/dev/null | head -1) against the fake Messages API"
    check "install the CLI and start the fake API on 127.0.0.1:$FAKE_PORT; alice's and bob's ~/.config/claudine/env (0600)" claude_setup
    write_config 'claude_backoff = "5s"' 'claude_backoff_max = "20s"'
    check "restart with a 5 s cooldown after a rate limit" restart_daemon
    local version; version=$(as alice "$CLAUDE_BIN" --version 2>/dev/null | head -1)

    # --- a tool call, as alice: the file exists, owned by her; status and logs say what happened.
    local a sid t0 ms
    t0=$(now_ms)
    a=$(submit alice --permission-mode bypassPermissions --cwd "$(home_of alice)/proj" \
        "Make the marker file.
@bash touch made-by-claude && cat /proc/self/cgroup > cgroup-of-the-tool")
    wait_until 120 "a prompt with a scripted Bash tool call: task $a succeeds" is_state "$a" succeeded \
        || detail "$(task_json "$a" | jq -c '{state, reason, claude: .claude.progress.result}')"
    sid=$(session_of "$a")
    check_eq "the file the tool made exists, owned by alice" alice \
        "$(stat -c %U "$(home_of alice)/proj/made-by-claude" 2>&1)"
    check_match "the Bash tool ran inside the task's scope" "claudine.slice/claudine-task-$a.scope" \
        "$(cat "$(home_of alice)/proj/cgroup-of-the-tool" 2>&1)"
    check_match "status: the session id claudine minted (a UUID)" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$sid"
    check_eq "... is the session the API saw" "$sid" "$(jq -r 'select(.session_id != "") | .session_id' "$FAKE_LOG" | head -1)"
    check_eq "status: 2 turns" 2 "$(claude_field "$a" .progress.result.num_turns)"
    check "status: tokens in and out, and a cost" \
        test "$(claude_field "$a" .progress.result.usage.output_tokens)" -gt 0 -a \
        "$(claude_field "$a" '.progress.result.total_cost_usd * 1000000 | floor')" -gt 0
    check_eq "status: claude's version (what --version says)" "$version" "$(claude_field "$a" .version)"
    ctl alice status "$a"
    check_match "claudinectl status shows session, turns, tools, tokens, cost" \
        "session: +$sid.*turns: +2.*tools: +1 uses \\(Bash 1\\), last Bash.*tokens: +in [0-9]+ / out [0-9]+.*cost: +\\\$[0-9.]+" "$(tr '\n' ' ' <<<"$OUT")"
    ctl alice logs "$a"
    check_match "claudinectl logs: the conversation, readable" "▶ Bash: touch made-by-claude" "$OUT"
    check_match "... and the result line" "── result: success · 2 turns" "$OUT"
    ctl alice logs --raw "$a"
    check_eq "claudinectl logs --raw: the JSON lines, the first one claude's init" system/init \
        "$(head -1 <<<"$OUT" | jq -r '.type + "/" + .subtype' 2>&1)"
    ms=$(( $(jq -r --arg s "$sid" 'select(.session_id == $s) | .ts_ms' "$FAKE_LOG" | head -1) - t0 ))
    note "figure: submit -> claude's first API request: $ms ms (one task, idle guest)"

    # --- unattended: a tool that needs approval is denied, not waited for, and
    # reported; an MCP server claude starts runs in the task's scope too.
    local den mcp
    den=$(submit alice --cwd "$(home_of alice)/proj" "Try a tool without permission.
@bash touch denied-file")
    mcp=$(submit alice --permission-mode bypassPermissions --cwd "$(home_of alice)/proj" \
        --mcp-config '{"mcpServers":{"probe":{"command":"/bin/sh","args":["-c","cat /proc/self/cgroup > mcp-cgroup"]}}}' \
        "@say with an MCP server")
    wait_until 120 "without a permission mode: task $den ends (it does not wait for approval)" is_terminal "$den"
    check_not "... the tool did not run" test -e "$(home_of alice)/proj/denied-file"
    check "... and the denial is reported: permission_denials" \
        test "$(claude_field "$den" '.progress.result.permission_denials')" -ge 1
    ctl alice status "$den"
    check_match "claudinectl status names the denied tool" "denied: +[0-9]+ tool call\\(s\\): Bash" "$OUT"
    wait_until 120 "a task with an MCP server (--mcp-config) ends" is_terminal "$mcp"
    check_match "the MCP server claude started ran inside the task's scope" "claudine.slice/claudine-task-$mcp.scope" \
        "$(cat "$(home_of alice)/proj/mcp-cgroup" 2>&1)"

    # --- resume: the same session continues, the API sees the earlier turns.
    ctl alice resume "$a" --prompt "Now say you are done.
@say resumed fine"
    check_eq "claudinectl resume $a (exit 0)" 0 "$RC"
    wait_until 120 "the resumed task succeeds again (attempt 2)" \
        bash -c "[[ \$(cd /root && claudinectl status $a --json | jq -r '.state + \" \" + (.attempts|tostring)') == 'succeeded 2' ]]"
    check_eq "... in the same session" "$sid" "$(session_of "$a")"
    check_eq "the API saw the earlier turns in the resumed session's request" true \
        "$(fake_requests "$sid" | tail -1 | jq -r .earlier_turns)"
    check_match "... and the new prompt" "Now say you are done" "$(fake_requests "$sid" | tail -1 | jq -r '.prompts | tostring')"
    local c
    c=$(submit alice --permission-mode bypassPermissions --continue-from "$a" "Carry on in a copy.
@say copied")
    wait_until 120 "--continue-from $a: a new task on a copy of the session succeeds" is_state "$c" succeeded
    check "... with a session of its own, whose first request already holds the earlier turns" \
        test "$(session_of "$c")" != "$sid" -a "$(fake_requests "$(session_of "$c")" | head -1 | jq -r .earlier_turns)" == true

    # --- a 429: the account cools down, alice's other Claude tasks wait, bob's do not; then it resumes by itself.
    local r held other
    # The fake sends the reset headers (reset=+8); under API-key auth the CLI
    # does not pass a reset time on, so the cooldown is the backoff's.
    r=$(submit alice --permission-mode bypassPermissions "Hit the rate limit once.
@status 429 reset=+8 retry-after=none
@status-times 1
@say recovered")
    wait_until 120 "a scripted 429 puts task $r back in the queue, to resume by itself" \
        bash -c "[[ \$(cd /root && claudinectl status $r --json | jq -r '.state + \" \" + (.attempts|tostring)') == 'queued 1' ]]"
    check_match "... saying why: the rate limit, and when it resumes" "rate limited by the API \\(HTTP 429\\).*resumes by itself at" "$(field "$r" reason)"
    ctl alice usage
    check_match "claudinectl usage shows alice's cooldown in force" "cooldown|rate limit" "$OUT"
    held=$(submit alice --permission-mode bypassPermissions "Another task of alice.
@say later")
    other=$(submit bob --permission-mode bypassPermissions "Bob is not limited.
@say bob")
    poll 20 is_state "$held" queued
    check_match "alice's next Claude task is held by the cooldown, saying so" "cooldown|rate limit" "$(field "$held" waiting_reason) $(claude_field "$held" .held)"
    wait_until 120 "bob's Claude task is not held: it succeeds meanwhile" is_state "$other" succeeded
    ctl root --json events --task "$r"
    check "task:rate-limited was recorded" grep -q '"type":"task:rate-limited"' <<<"$OUT"
    wait_until 120 "after the cooldown, task $r resumes by itself (--resume) and succeeds" is_state "$r" succeeded
    check_eq "... on its second attempt, in its own session" "2 $(session_of "$r")" \
        "$(field "$r" attempts) $(fake_requests "$(session_of "$r")" | tail -1 | jq -r .session_id)"
    wait_until 120 "alice's held task starts once the account is clear, and succeeds" is_state "$held" succeeded

    # --- claude's own retries are an early signal: while one of alice's
    # tasks is retrying the API, her next Claude task waits.
    local rt sib
    rt=$(submit alice -e CLAUDE_CODE_MAX_RETRIES=1 --permission-mode bypassPermissions "Retry once.
@status 429 retry-after=10
@status-times 1
@say retried")
    wait_until 90 "task $rt is retrying the API (its api_retry line, read live)" \
        bash -c "[[ -n \$(cd /root && claudinectl status $rt --json | jq -r '.claude.progress.retrying // empty') ]]"
    sib=$(submit alice --permission-mode bypassPermissions "@say sibling")
    poll 10 bash -c "cd /root && claudinectl status $sib --json | jq -r .waiting_reason | grep -q 'retrying the API'"
    check_match "alice's next Claude task waits while task $rt retries, saying so" "task $rt of the same user is retrying the API" "$(field "$sib" waiting_reason)"
    wait_until 90 "the retry goes through: task $rt succeeds" is_state "$rt" succeeded
    wait_until 90 "... and the waiting task then starts and succeeds" is_state "$sib" succeeded
    check "... after the retrying task's request went through" \
        test "$(field "$sib" started_ms)" -ge "$(fake_requests "$(session_of "$rt")" | jq -r 'select(.status == 200) | .ts_ms' | head -1)"
    ctl alice usage --json
    check "claudinectl usage: alice's runs in the last 24 h, with tokens and cost" \
        test "$(jq -r '.last_day.runs' <<<"$OUT")" -ge 5 -a "$(jq -r '.last_day.output_tokens' <<<"$OUT")" -gt 0

    # --- an is_error result is a failure with the API's status; a CLI that rejects an option fails with its message.
    local e b
    e=$(submit alice "@status 500 retry-after=none")
    b=$(submit alice --permission-mode notAMode "never runs a turn")
    wait_until 120 "an API error 500 ends the task failed" is_state "$e" failed
    check_match "... with the API's status in the reason" "API status 500" "$(field "$e" reason)"
    wait_until 60 "a permission mode the CLI rejects: the task fails" is_state "$b" failed
    check_match "... with the CLI's own message" "claude said: .*notAMode" "$(field "$b" reason)"
    local bm; bm=$(submit alice --model no-such-model "@say never")
    wait_until 120 "a model the API does not know: the task fails" is_state "$bm" failed
    check_match "... with the API's answer" "no-such-model" "$(field "$bm" reason)"

    # --- bad input.
    ctl alice submit "   "
    check_eq "an empty prompt: usage error (exit 2)" 2 "$RC"
    ctl alice resume "$(submit alice -- true)"
    check_match "resume of a command task: refused, saying why" "not a Claude Code task" "$ERR"
    chmod 660 "$(home_of bob)/.config/claudine/env"
    local w; w=$(submit bob "@say never")
    wait_until 60 "a group-writable ~/.config/claudine/env: bob's task fails" is_state "$w" failed
    check_match "... saying so, without any value of the file" "writable by its group.*chmod go-w" "$(field "$w" reason)"
    check_no_match "... (no secret in the reason or the log)" "sk-test-bob" "$(field "$w" reason; ctl root logs "$w"; echo "$OUT")"
    chmod 600 "$(home_of bob)/.config/claudine/env"
    mv "$(home_of alice)/.claude/projects" "$(home_of alice)/.claude/projects.moved"
    ctl alice resume "$a"
    wait_until 60 "resume of a session claude no longer has: the task fails" is_state "$a" failed
    check_match "... with claude's words" "[Nn]o conversation found|$sid" "$(field "$a" reason)"
    mv "$(home_of alice)/.claude/projects.moved" "$(home_of alice)/.claude/projects"

    # --- 20 Claude tasks at once in a guest too small to run them all at once.
    local ids=() i oom0 t1 peak=0 n mem peak_mem=0
    oom0=$(awk '/^oom_kill / {print $2}' /proc/vmstat)
    t1=$(now_ms)
    for i in $(seq 10); do
        ids+=("$(submit alice --permission-mode bypassPermissions --cwd "$(home_of alice)/proj" "Task $i.
@bash echo $i > out-$i")")
        ids+=("$(submit bob --permission-mode bypassPermissions --cwd "$(home_of bob)/proj" "Task $i.
@bash echo $i > out-$i")")
    done
    while ! all_terminal "${ids[@]}" && (( $(now_ms) - t1 < 600000 )); do
        n=$(compgen -G '/sys/fs/cgroup/claudine.slice/claudine-task-*.scope' | wc -l)
        (( n > peak )) && peak=$n
        mem=$(cat /sys/fs/cgroup/claudine.slice/memory.current 2>/dev/null || echo 0)
        (( mem > peak_mem )) && peak_mem=$mem
        local out; out=$(claude_procs_outside); [[ -n $out ]] && note "claude outside a task scope: $out"
        sleep 0.5
    done
    check_eq "20 Claude tasks submitted at once: all succeed" 20 "$(count_state succeeded "${ids[@]}")"
    check_eq "... no OOM kill" 0 "$(( $(awk '/^oom_kill / {print $2}' /proc/vmstat) - oom0 ))"
    check "... never all at once on $(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) >> 10 )) MiB (peak $peak running)" test "$peak" -lt 20 -a "$peak" -ge 2
    check_eq "... each one's file, written by its own user" "10 10" \
        "$(find "$(home_of alice)/proj" -name 'out-*' -user alice | wc -l) $(find "$(home_of bob)/proj" -name 'out-*' -user bob | wc -l)"
    note "figure: 20 Claude tasks at zero configuration: makespan $(( ($(now_ms) - t1) / 1000 )) s, peak $peak running, peak memory of the tasks $(( peak_mem >> 20 )) MiB (claudine.slice memory.current, sampled every 0.5 s)"
    local firsts
    firsts=$(for i in "${ids[@]}"; do
        s=$(session_of "$i"); c0=$(field "$i" created_ms)
        f=$(fake_requests "$s" | head -1 | jq -r .ts_ms); [[ -n $f && -n $c0 ]] && echo $(( f - c0 ))
    done | sort -n | tr '\n' ' ')
    note "figure: submit -> first API request over the 20 (ms, sorted; includes queueing): $firsts"
    local escaped=0
    for i in "${ids[@]}" "$a" "$r" "$c" "$den" "$mcp" "$rt" "$sib"; do [[ -n $(escaped_of "$i") ]] && escaped=$((escaped + 1)); done
    check_eq "every process of every Claude task stayed in its scope (no task:escaped)" 0 "$escaped"
    check_eq "no claude process runs outside a task scope now" "" "$(claude_procs_outside)"

    # --- figure: the same claude command launched directly, as alice.
    local direct=()
    for i in 1 2 3; do
        t1=$(now_ms)
        as alice env $(grep -v '^#' "$(home_of alice)/.config/claudine/env" | xargs) \
            "$CLAUDE_BIN" -p --output-format stream-json --verbose --permission-mode bypassPermissions \
            --session-id "$(cat /proc/sys/kernel/random/uuid)" <<<"direct $i
@say direct" >/dev/null 2>&1
        f=$(jq -r --arg p "direct $i" 'select((.prompts | tostring) | contains($p)) | .ts_ms' "$FAKE_LOG" | head -1)
        [[ -n $f ]] && direct+=($(( f - t1 )))
    done
    note "figure: claude launched directly -> first API request (ms): ${direct[*]}"
    systemctl stop fake-anthropic 2>/dev/null
}
