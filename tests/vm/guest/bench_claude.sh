# tests/vm/guest/bench_claude.sh - figures for Claude Code tasks (sourced by
# bench.sh; BENCH_ONLY=claude runs only this): submit -> claude's first API
# request, next to the same claude command launched directly in the same
# guest, both measured on the fake API's clock (its log's ts_ms), N times each,
# one at a time on an idle queue. Needs /mnt/testbed/claude and
# /mnt/testbed/fake_anthropic (tests/vm/run.sh --bench copies them).
# shellcheck shell=bash
# shellcheck source=claude.sh
source ./claude.sh

bench_claude() {
    local n=${BENCH_N_CLAUDE:-9} i t0 id s f
    head_ "Claude Code tasks: submit -> claude's first API request, $n times each, one at a time (ms)"
    id bob >/dev/null 2>&1 || useradd -m -s /bin/bash -G claudine bob
    claude_setup || { fig "claude setup" "FAILED"; return; }
    as alice "$CLAUDE_BIN" --version >/dev/null 2>&1   # the binary in the page cache for both
    : > "$_TMP/cl_submit"; : > "$_TMP/cl_direct"
    for i in $(seq "$n"); do
        t0=$(now_ms)
        id=$(submit alice --permission-mode bypassPermissions "bench $i
@say ok") || continue
        poll 120 is_terminal "$id"
        s=$(session_of "$id")
        f=$(fake_requests "$s" | head -1 | jq -r .ts_ms)
        [[ -n $f ]] && echo $(( f - t0 )) >> "$_TMP/cl_submit"
    done
    for i in $(seq "$n"); do
        s=$(cat /proc/sys/kernel/random/uuid)
        t0=$(now_ms)
        # shellcheck disable=SC2046  # the env file's KEY=VALUE words
        as alice env $(grep -v '^#' "$(home_of alice)/.config/claudine/env" | xargs) \
            "$CLAUDE_BIN" -p --output-format stream-json --verbose --permission-mode bypassPermissions \
            --session-id "$s" <<<"direct $i
@say ok" >/dev/null 2>&1
        f=$(fake_requests "$s" | head -1 | jq -r .ts_ms)
        [[ -n $f ]] && echo $(( f - t0 )) >> "$_TMP/cl_direct"
    done
    fig "claudinectl submit \"prompt\" -> first API request" "$(stats < "$_TMP/cl_submit")"
    fig "baseline: claude -p launched directly as alice -> first API request" "$(stats < "$_TMP/cl_direct")"
    systemctl stop fake-anthropic 2>/dev/null
}
