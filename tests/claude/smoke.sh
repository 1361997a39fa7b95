#!/bin/bash
# tests/claude/smoke.sh [CLAUDE [FAKE]] - the real Claude Code CLI against the
# fake Messages API (examples/fake_anthropic/), natively, no claudine
# involved: one PASS/FAIL line per check, exit code = number of failures.
#
#   (a) a Bash tool call (`@bash touch …`) makes its file; exit 0, the result
#       line has is_error false, num_turns 2, usage and total_cost_usd
#   (b) `--resume` of (a)'s session: the fake sees the earlier turns
#   (c) 429 with a reset time: MAX_RETRIES=0 ends with is_error true,
#       api_error_status 429, exit 1; MAX_RETRIES=1 prints one api_retry line
#       that waits retry-after
#   (d) 529 likewise; a 529 on the first request only is retried to success
#   (e) PARALLEL (default 8, 0 skips) runs of (a) at once
#
# CLAUDE defaults to what scripts/fetch-claude.sh prints (it installs the
# pinned CLI once, about 6 s); FAKE to target/release/examples/fake_anthropic
# (built by `cargo build --release --example fake_anthropic` when missing).
# As root the CLI runs as RUN_USER (default nobody) through runuser: as root
# it refuses bypassPermissions unless IS_SANDBOX=1. Needs python3 (JSON).
# KEEP=1 keeps the scratch directory (kept anyway when a check fails).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

claude=${1:-${CLAUDE:-}}
fake=${2:-${FAKE:-}}
if [[ -z $claude ]]; then
    claude=$("$CLAUDINE_ROOT/scripts/fetch-claude.sh") || die "no claude CLI (scripts/fetch-claude.sh failed)"
fi
if [[ -z $fake ]]; then
    fake=${CARGO_TARGET_DIR:-$CLAUDINE_ROOT/target}/release/examples/fake_anthropic
    if [[ ! -x $fake ]]; then
        say "building the fake API (cargo build --release --example fake_anthropic)"
        (cd "$CLAUDINE_ROOT" && cargo build --release --example fake_anthropic >&2) || die "cannot build the fake API"
    fi
fi
[[ -x $claude ]] || die "not an executable: $claude"
[[ -x $fake ]] || die "not an executable: $fake"
command -v python3 >/dev/null || die "python3 is needed to read the CLI's JSON lines"

FAILS=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { FAILS=$((FAILS + 1)); printf 'FAIL  %s\n' "$*"; }
note() { printf '      %s\n' "$*"; }
# check DESC CONDITION...: PASS if the command succeeds; returns its status.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; return 1; fi; }

scratch=$(mktemp -d /tmp/claude-smoke.XXXXXX)
chmod 755 "$scratch"
fake_pid=
cleanup() {
    [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null
    if ((FAILS)) || [[ ${KEEP:-0} == 1 ]]; then echo "scratch kept: $scratch" >&2; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

run_as=()
if [[ $EUID -eq 0 ]]; then
    user=${RUN_USER:-nobody}
    command -v runuser >/dev/null || die "runuser not found (util-linux): cannot run the CLI as $user"
    run_as=(runuser -u "$user" --)
fi
# mkdir_for_cli DIR: a directory the CLI's user can write.
mkdir_for_cli() { mkdir -p "$1" && if ((${#run_as[@]})); then chown "$user" "$1"; fi; }

"$fake" --port 0 --log "$scratch/fake.jsonl" >"$scratch/fake.out" 2>"$scratch/fake.err" &
fake_pid=$!
port=
for _ in $(seq 50); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$scratch/fake.out")
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || die "the fake API did not start: $(cat "$scratch/fake.err")"
say "claude $("$claude" --version </dev/null 2>/dev/null) against the fake API on 127.0.0.1:$port; scratch $scratch"

work=$scratch/work
mkdir_for_cli "$work"

# cli NAME RETRIES ARGS...: run the CLI in $work with config dir $scratch/NAME.cfg;
# stream-json lines in $scratch/NAME.out, stderr in NAME.err; sets RC and WALL_MS.
cli() {
    local name=$1 retries=$2; shift 2
    local cfg=$scratch/${name%%-*}.cfg t0
    mkdir_for_cli "$cfg"
    t0=$(date +%s%N)
    (cd "$work" && "${run_as[@]}" env HOME="$cfg" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" \
        ANTHROPIC_API_KEY=x CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CONFIG_DIR="$cfg" \
        CLAUDE_CODE_MAX_RETRIES="$retries" "$claude" "$@" --output-format stream-json --verbose \
        --permission-mode bypassPermissions </dev/null >"$scratch/$name.out" 2>"$scratch/$name.err")
    RC=$?
    WALL_MS=$((($(date +%s%N) - t0) / 1000000))
}

# result NAME EXPR: EXPR (Python, over r = the result line, lines = all lines,
# log = the fake's records) for the run NAME, printed; "ERROR: …" if unreadable.
result() {
    python3 - "$scratch/$1.out" "$scratch/fake.jsonl" "$2" <<'EOF'
import json, sys
out, logf, expr = sys.argv[1:]
try:
    lines = [json.loads(l) for l in open(out) if l.strip()]
    log = [json.loads(l) for l in open(logf) if l.strip()]
    rs = [l for l in lines if l.get("type") == "result"]
    r = rs[-1] if rs else {}
    v = eval(expr)
    print(json.dumps(v) if not isinstance(v, str) else v)
except Exception as e:
    print("ERROR: %s" % e)
EOF
}

# Show what a failed run said.
explain() {
    note "exit $RC in ${WALL_MS} ms; last lines of $scratch/$1.out and .err:"
    tail -c 600 "$scratch/$1.out" | sed 's/^/      | /'
    tail -n 5 "$scratch/$1.err" | sed 's/^/      | /'
}

# expect NAME DESC PYTHON-CONDITION: PASS when it is True for run NAME.
expect() {
    local v; v=$(result "$1" "$3")
    if [[ $v == true ]]; then pass "$2"; else fail "$2 ($3 -> $v)"; explain "$1"; fi
}

# ---- (a) one Bash tool call
sid=$(python3 -c 'import uuid; print(uuid.uuid4())')
cli a 0 -p $'Make the file, please.\n@bash touch '"$work"'/made-by-claude' --session-id "$sid"
check "(a) exit 0 (${WALL_MS} ms)" test "$RC" -eq 0 || explain a
check "(a) the Bash tool call made $work/made-by-claude" test -e "$work/made-by-claude"
expect a "(a) result: is_error false, num_turns 2, result \"done\"" \
    'r["is_error"] is False and r["num_turns"] == 2 and r["result"] == "done"'
expect a "(a) result: usage and total_cost_usd" \
    'r["usage"]["input_tokens"] > 0 and r["usage"]["output_tokens"] > 0 and r["total_cost_usd"] > 0'
expect a "(a) every line carries session_id $sid" "all(l.get('session_id') == '$sid' for l in lines)"
expect a "(a) a tool_use line for Bash and its tool_result" \
    'any(b.get("name") == "Bash" for l in lines if l["type"] == "assistant" for b in l["message"]["content"]) and any(b.get("type") == "tool_result" and b.get("is_error") is False for l in lines if l["type"] == "user" for b in l["message"]["content"])'
note "$(result a '"result line: " + json.dumps({k: r.get(k) for k in ["subtype", "is_error", "num_turns", "result", "total_cost_usd", "terminal_reason", "api_error_status", "duration_ms"]})')"

# ---- (b) resume: the fake sees the earlier turns
n_before=$(wc -l <"$scratch/fake.jsonl")
cli a-resume 0 -p "next" --resume "$sid"
check "(b) resume: exit 0 (${WALL_MS} ms)" test "$RC" -eq 0 || explain a-resume
expect a-resume "(b) resume: same session_id, is_error false" "r['session_id'] == '$sid' and r['is_error'] is False"
expect a-resume "(b) the fake's first request of the resumed run holds the earlier turns and both prompts" \
    "[(x['earlier_turns'], len(x['prompts']), x['prompts'][-1]) for x in log[$n_before:] if x['session_id'] == '$sid'][0] == (True, 2, 'next')"
note "$(result a-resume "'fake saw: ' + json.dumps([{k: x[k] for k in ['messages', 'assistant_turns', 'tool_results', 'earlier_turns', 'reply']} for x in log[$n_before:]])")"

# ---- (c) 429 with a reset time
reset=$(($(date +%s) + 3600))
cli c 0 -p "@status 429 reset=$reset"
check "(c) 429, MAX_RETRIES=0: exit 1 (${WALL_MS} ms)" test "$RC" -eq 1 || explain c
expect c "(c) 429: is_error true, api_error_status 429, no api_retry line" \
    'r["is_error"] is True and r["api_error_status"] == 429 and not any(l.get("subtype") == "api_retry" for l in lines)'
note "$(result c '"result line: " + json.dumps({k: r.get(k) for k in ["subtype", "is_error", "api_error_status", "api_error_type", "terminal_reason", "result"]})')"
cli c-retry 1 -p "@status 429 reset=$reset retry-after=1"
check "(c) 429 retry-after=1, MAX_RETRIES=1: exit 1 (${WALL_MS} ms)" test "$RC" -eq 1 || explain c-retry
expect c-retry "(c) one api_retry line: attempt 1, error_status 429, retry_delay_ms >= 1000" \
    '[(l["attempt"], l["error_status"], l["retry_delay_ms"] >= 1000) for l in lines if l.get("subtype") == "api_retry"] == [(1, 429, True)]'
note "$(result c-retry '"api_retry line: " + json.dumps([{k: l[k] for k in ["attempt", "max_retries", "retry_delay_ms", "error_status", "error"]} for l in lines if l.get("subtype") == "api_retry"])')"

# ---- (d) 529
cli d 0 -p "@status 529"
check "(d) 529, MAX_RETRIES=0: exit 1 (${WALL_MS} ms)" test "$RC" -eq 1 || explain d
expect d "(d) 529: is_error true, api_error_status 529" 'r["is_error"] is True and r["api_error_status"] == 529'
cli d-once 1 -p $'@status 529\n@status-times 1\n@say recovered'
check "(d) 529 on the first request only, MAX_RETRIES=1: exit 0 (${WALL_MS} ms)" test "$RC" -eq 0 || explain d-once
expect d-once "(d) one api_retry line (529), then is_error false, result \"recovered\"" \
    '[l["error_status"] for l in lines if l.get("subtype") == "api_retry"] == [529] and r["is_error"] is False and r["result"] == "recovered"'

# ---- (e) parallel runs
parallel=${PARALLEL:-8}
if ((parallel > 0)); then
    t0=$(date +%s%N)
    pids=()
    for i in $(seq "$parallel"); do
        (cli "e$i" 0 -p "@bash touch $work/parallel-$i"; echo "$RC" >"$scratch/e$i.rc") &
        pids+=($!)
    done
    wait "${pids[@]}"    # not a bare wait: the fake API is a child too
    wall=$((($(date +%s%N) - t0) / 1000000))
    ok=0
    for i in $(seq "$parallel"); do
        [[ $(cat "$scratch/e$i.rc") == 0 && -e $work/parallel-$i && $(result "e$i" 'r["is_error"]') == false ]] && ok=$((ok + 1))
    done
    check "(e) $parallel runs at once: $ok made their file with exit 0 and is_error false ($wall ms for all)" \
        test "$ok" -eq "$parallel"
fi

echo
if ((FAILS)); then echo "claude smoke: $FAILS FAILED"; else echo "claude smoke: all passed"; fi
exit "$FAILS"
