#!/bin/bash
# tests/mcp/conformance.sh - `claudinectl mcp` driven by an independent MCP
# client: the MCP inspector's CLI mode (npm @modelcontextprotocol/inspector,
# pinned), which starts `claudinectl mcp` itself for every call, as Claude
# Code does. It lists the tools and calls each one against a running
# claudined, as the user who runs the script; one line per check, then
# "conformance: N passed, M failed"; exit status 0 only if none failed.
#
# Environment:
#   INSPECTOR        the inspector's command (default: npx -y
#                    @modelcontextprotocol/inspector@2.12.0); measured with
#                    2.12.0, whose CLI ran on node 20.20 although it asks
#                    for node >= 22.19
#   CLAUDINECTL      the claudinectl to test (default: claudinectl on PATH)
#   CLAUDINE_SOCKET  claudined's socket (default: claudinectl's own default)
#   FREEZE           required (default): suspend_task and resume_task must
#                    work (real systemd); optional: a suspend claudined
#                    refuses is noted, not failed (the stand-in systemd of
#                    tests/daemon.rs cannot freeze a scope)
#   WORKDIR          the tasks' directory (default: a new temporary one)
# Needs node (the inspector's, also used here to read its JSON).
set -uo pipefail

read -r -a inspector <<<"${INSPECTOR:-npx -y @modelcontextprotocol/inspector@2.12.0}"
ctl=${CLAUDINECTL:-claudinectl}
freeze=${FREEZE:-required}
server=("$ctl")
[[ -n ${CLAUDINE_SOCKET:-} ]] && server+=(--socket "$CLAUDINE_SOCKET")
server+=(mcp)
own_workdir=""
if [[ -z ${WORKDIR:-} ]]; then
    WORKDIR=$(mktemp -d)
    own_workdir=$WORKDIR
fi
trap '[[ -n $own_workdir ]] && rm -rf "$own_workdir"' EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
note() { echo "note: $*"; }

# inspect ARGS...: the inspector's JSON answer for one method (its exit
# status is not the verdict: it is 5 for a tool error).
inspect() {
    (cd "$WORKDIR" && "${inspector[@]}" --cli "${server[@]}" "$@" 2>/dev/null) || true
}

# call TOOL [KEY=VALUE...]: the tool's answer ({content, isError}).
call() {
    local tool=$1
    shift
    if [[ $# -gt 0 ]]; then
        inspect --method tools/call --tool-name "$tool" --tool-arg "$@"
    else
        inspect --method tools/call --tool-name "$tool"
    fi
}

# js EXPR < ANSWER: EXPR evaluated with `r` the answer, `t` its first
# text, `v` that text as JSON (or null); prints the value (strings bare).
js() {
    node -e '
        const r = JSON.parse(require("fs").readFileSync(0, "utf8") || "null");
        const t = r && r.content && r.content[0] ? r.content[0].text : "";
        let v = null; try { v = JSON.parse(t); } catch (e) {}
        const out = eval(process.argv[1]);
        console.log(typeof out === "string" ? out : JSON.stringify(out));
    ' "$1" 2>/dev/null || echo "(not JSON)"
}

# expect WHAT ACTUAL WANTED
expect() {
    if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1: got $2, wanted $3"; fi
}

# 1. The tools, each with an input schema.
answer=$(inspect --method tools/list)
names=$(js 'r.tools.map(x => x.name).sort().join(",")' <<<"$answer")
expect "tools/list names the tools" "$names" \
    "cancel_task,delegate_task,list_tasks,resume_task,suspend_task,task_logs,task_status,wait_task"
schemas=$(js 'r.tools.every(x => x.inputSchema && x.inputSchema.type === "object")' <<<"$answer")
expect "every tool has an object input schema" "$schemas" "true"

# 2. A command, followed to its end.
word="conformance-$$"
answer=$(call delegate_task "command=[\"sh\",\"-c\",\"echo $word\"]" "cwd=$WORKDIR")
id=$(js 'v && v.id' <<<"$answer")
if [[ $id =~ ^[0-9]+$ ]]; then ok "delegate_task queued task $id"; else fail "delegate_task: $answer"; fi
answer=$(call wait_task "id=$id" timeout_seconds=120)
expect "wait_task: it ended" "$(js 'v && v.ended' <<<"$answer")" "true"
expect "wait_task: it succeeded" "$(js 'v && v.task.state' <<<"$answer")" "succeeded"
answer=$(call task_status "id=$id")
expect "task_status: succeeded" "$(js 'v && v.state' <<<"$answer")" "succeeded"
expect "task_status: in the directory asked" "$(js 'v && v.cwd' <<<"$answer")" \
    "$(cd "$WORKDIR" && pwd -P)"
answer=$(call task_logs "id=$id" tail=10)
expect "task_logs: its output" "$(js 't.trim()' <<<"$answer")" "$word"
answer=$(call list_tasks)
expect "list_tasks: it is listed" "$(js "v && v.tasks.some(x => x.id === $id)" <<<"$answer")" "true"

# 3. Bad arguments and actions that do not apply: tool errors with words.
answer=$(call delegate_task)
expect "delegate_task without prompt or command: a tool error" "$(js 'r.isError' <<<"$answer")" "true"
expect "  ...saying so" "$(js 't.startsWith("nothing to run")' <<<"$answer")" "true"
answer=$(call delegate_task 'command=["true"]' priority=P9)
expect "an unknown priority: a tool error" "$(js 'r.isError && t.includes("P9")' <<<"$answer")" "true"
answer=$(call suspend_task "id=$id")
expect "suspend_task of a finished task: claudined's reason" \
    "$(js 'r.isError && t.includes("only a running task can be suspended")' <<<"$answer")" "true"

# 4. A long task: suspended, resumed, cancelled.
answer=$(call delegate_task 'command=["sleep","300"]' priority=P2 "cwd=$WORKDIR")
long=$(js 'v && v.id' <<<"$answer")
if [[ $long =~ ^[0-9]+$ ]]; then ok "delegate_task queued task $long"; else fail "delegate_task: $answer"; fi
state=""
for _ in $(seq 60); do
    state=$(call task_status "id=$long" | js 'v && v.state')
    [[ $state == running ]] && break
    sleep 1
done
expect "task $long runs" "$state" "running"
answer=$(call wait_task "id=$long" timeout_seconds=1)
expect "wait_task with a timeout: not ended" "$(js 'v && v.ended' <<<"$answer")" "false"
answer=$(call suspend_task "id=$long")
if [[ $(js 'r.isError' <<<"$answer") == false ]]; then
    expect "suspend_task: suspended" "$(js 'v && v.task.state' <<<"$answer")" "suspended"
    answer=$(call resume_task "id=$long")
    expect "resume_task: running again" "$(js 'v && v.task.state' <<<"$answer")" "running"
elif [[ $freeze == optional ]]; then
    note "suspend_task refused (FREEZE=optional): $(js t <<<"$answer")"
    answer=$(call resume_task "id=$long")
    expect "resume_task of a running task: claudined's reason" \
        "$(js 'r.isError && t.includes("is running")' <<<"$answer")" "true"
else
    fail "suspend_task: $(js t <<<"$answer")"
fi
answer=$(call cancel_task "id=$long" reason=conformance)
expect "cancel_task: accepted" "$(js 'r.isError' <<<"$answer")" "false"
answer=$(call wait_task "id=$long" timeout_seconds=60)
expect "wait_task: cancelled" "$(js 'v && v.task.state' <<<"$answer")" "cancelled"

echo "conformance: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
