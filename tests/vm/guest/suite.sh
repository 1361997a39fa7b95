#!/bin/bash
# tests/vm/guest/suite.sh - claudine's acceptance suite. Runs as root inside the
# test VM (tests/vm/run.sh boots it once): installs the .deb from /mnt/testbed,
# then checks the package, the service, and what a user sees through claudinectl.
#
# One PASS/FAIL line per check, a summary at the end; exit code = number of
# failures. Waits poll a real condition with a deadline (wait_until), never a
# bare sleep. Sections run in order; the later ones reuse state (users, tasks,
# config) made by the earlier ones. SUITE_ONLY="basic scope" (in suite.env or the
# environment) runs only those sections (after install).
#
# Budget: the guest usually runs under software emulation: a process start costs
# ~30 ms and a claudinectl call ~100 ms, so tasks are submitted in batches and
# waited for together.

cd "$(dirname "${BASH_SOURCE[0]}")" || exit 125
# shellcheck source=lib.sh
source ./lib.sh
# shellcheck source=foundation.sh
source ./foundation.sh
# shellcheck source=monitoring.sh
source ./monitoring.sh
# shellcheck source=autoscale.sh
source ./autoscale.sh
# shellcheck source=claude.sh
source ./claude.sh
# shellcheck source=suspend.sh
source ./suspend.sh
# shellcheck source=protect.sh
source ./protect.sh
# shellcheck source=worktree.sh
source ./worktree.sh
# shellcheck source=reboot.sh
source ./reboot.sh
[[ -f suite.env ]] && source ./suite.env
exec 2>&1   # one stream, in order
export LC_ALL=C.UTF-8 2>/dev/null || true

echo "claudine guest suite: kernel $(uname -r), $(systemctl --version | head -1), system $(systemctl is-system-running)"

# Ids of tasks made by one section and looked at by a later one.
ID_BASIC=; ID_ROOT=; ID_CANCELLED=

# ============================================================ install
sec_install() {
    begin install
    # The daemon gives tasks the system's LANG (nothing is configured in a bare image).
    echo 'LANG=C.UTF-8' > /etc/default/locale

    local deb; deb=$(ls /mnt/testbed/claudine_*.deb 2>/dev/null | head -1)
    if [[ -z $deb ]]; then fail "no claudine_*.deb in /mnt/testbed"; return; fi
    note "package: $(basename "$deb")"
    check "apt-get install -y $(basename "$deb") (offline: every dependency is in the image)" \
        env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb"
    check_eq "dpkg: claudine is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' claudine 2>&1)"
    check "binaries: /usr/sbin/claudined, /usr/bin/claudinectl, /usr/libexec/claudine/claudine-supervise" \
        test -x /usr/sbin/claudined -a -x /usr/bin/claudinectl -a -x /usr/libexec/claudine/claudine-supervise
    check "group claudine exists (system group)" getent group claudine
    check "group claudine-admin exists (system group)" getent group claudine-admin
    check_eq "claudine group is a system group (gid < 1000)" yes \
        "$( (( $(getent group claudine | cut -d: -f3) < 1000 )) && echo yes || echo no)"
    wait_until 60 "systemctl is-active claudine" daemon_active
    check_eq "systemctl is-enabled claudine" enabled "$(systemctl is-enabled claudine 2>&1)"
    check_eq "/var/lib/claudine is mode 700, root:root" "700 root:root" "$(stat -c '%a %U:%G' $STATE 2>&1)"
    wait_until 20 "socket $SOCK exists" test -S $SOCK
    check_eq "socket is srw-rw---- root:claudine" "srw-rw---- root:claudine" "$(stat -c '%A %U:%G' $SOCK 2>&1)"
    check "/etc/claudine/claudine.toml exists" test -f "$CONF"
    check "... and is a conffile" grep -qx "$CONF" /var/lib/dpkg/info/claudine.conffiles
    check "every key in the shipped claudine.toml is commented out" bash -c "! grep -Ev '^[[:space:]]*(#|$)' $CONF"
    local out
    out=$(systemd-analyze verify --man=no /lib/systemd/system/claudine.service 2>&1); local rc=$?
    if [[ $rc -eq 0 ]] && ! grep -q 'claudine\.service' <<<"$out"; then
        pass "systemd-analyze verify claudine.service"
    else fail "systemd-analyze verify claudine.service (exit $rc)"; fi
    detail "$out"
    out=$(systemd-analyze verify --man=no /lib/systemd/system/claudine.slice 2>&1); rc=$?
    if [[ $rc -eq 0 ]] && ! grep -q 'claudine\.slice' <<<"$out"; then
        pass "systemd-analyze verify claudine.slice"
    else fail "systemd-analyze verify claudine.slice (exit $rc)"; fi
    detail "$out"
    check_eq "KillMode=process (a restart kills only the daemon)" process "$(systemctl show -P KillMode claudine)"
    local mp; mp=$(main_pid)
    check_eq "claudined has NoNewPrivs 0 (tasks inherit it: sudo must keep working)" 0 \
        "$(awk '/^NoNewPrivs/{print $2}' /proc/"$mp"/status 2>&1)"
    wait_until 20 "daemon answers GET /v1/version on the socket" daemon_answers

    # Users: alice and bob may submit; carol may not; dave is an admin.
    useradd -m -s /bin/bash -G claudine alice
    useradd -m -s /bin/bash -G claudine bob
    useradd -m -s /bin/bash carol
    useradd -m -s /bin/bash -G claudine,claudine-admin dave
    check "users alice, bob (claudine), carol (none), dave (claudine, claudine-admin)" \
        bash -c 'id -nG alice | grep -qw claudine && id -nG bob | grep -qw claudine &&
                 ! id -nG carol | grep -qw claudine && id -nG dave | grep -qw claudine-admin'
}

# ============================================================ basic
sec_basic() {
    begin "basic: submit, wait, status, list, logs, cancel (alice and root)"
    local i1 i2 i3 i4 i5 i6 i7 ir ic
    i1=$(submit alice -- sh -c 'echo hello-stdout; echo hello-stderr >&2; echo "uid=$(id -u)"; echo "gids=$(id -G)"; echo "pwd=$(pwd)"')
    check "alice: submit prints only the new numeric id (got '$i1')" test -n "$i1"
    i2=$(submit alice -- sh -c 'exit 3')
    i3=$(submit alice -- sh -c 'kill -TERM $$')
    i4=$(submit alice -- seq 1 100)
    i6=$(submit alice --cwd /tmp -- pwd)
    i7=$(submit alice --priority P0 -- true)
    ir=$(submit root -- sh -c 'echo "uid=$(id -u)"; echo "gids=$(id -G)"; echo "pwd=$(pwd)"')
    check "root: submit prints a numeric id (got '$ir')" test -n "$ir"
    ID_BASIC=$i1; ID_ROOT=$ir

    ctl alice wait "$i1"
    check_eq "alice: wait $i1 exits 0 for a task that exits 0" 0 "$RC"
    local j; j=$(task_json "$i1")
    check_eq "status: state succeeded" succeeded "$(jq -r .state <<<"$j")"
    check_eq "status: exit_code 0" 0 "$(jq -r .exit_code <<<"$j")"
    check_eq "status: owner alice, owner_uid $(id -u alice)" "alice $(id -u alice)" "$(jq -r '"\(.owner) \(.owner_uid)"' <<<"$j")"
    check_eq "status: argv as submitted" '["sh","-c"]' "$(jq -c '.argv[0:2]' <<<"$j")"
    check_eq "status: cwd defaults to the caller's cwd (/home/alice)" /home/alice "$(jq -r .cwd <<<"$j")"
    check_eq "status: default priority P1" P1 "$(jq -r .priority <<<"$j")"
    check_eq "status: created_ms <= started_ms <= finished_ms" true \
        "$(jq -r '(.created_ms <= .started_ms) and (.started_ms <= .finished_ms)' <<<"$j" 2>&1)"
    check_eq "status --json has every documented field" true "$(jq -r '[
        "id","owner_uid","owner","priority","state","argv","cwd","env_keys","created_ms","started_ms",
        "finished_ms","exit_code","signal","reason","cancel_requested","unit","queue_position",
        "waiting_reason","attempts"] - keys | length == 0' <<<"$j" 2>&1)"
    ctl alice status "$i1"
    check_match "alice: status (text) names the state" succeeded "$OUT"

    ctl alice logs "$i1"; local log=$OUT
    check_eq "alice: logs exits 0" 0 "$RC"
    check_match "logs: stdout of the task" '^hello-stdout$' "$log"
    check_match "logs: stderr of the task (combined)" '^hello-stderr$' "$log"
    check_eq "task runs as alice's uid" "uid=$(id -u alice)" "$(grep '^uid=' <<<"$log")"
    check_eq "task has alice's groups (id -G alice)" "$(id -G alice | tr ' ' '\n' | sort -n | xargs)" \
        "$(grep '^gids=' <<<"$log" | cut -d= -f2 | tr ' ' '\n' | sort -n | xargs)"
    check_eq "task runs in the submit cwd" pwd=/home/alice "$(grep '^pwd=' <<<"$log")"
    check_eq "log file $STATE/logs/$i1.log is 0600, owned by alice" "600 alice" \
        "$(stat -c '%a %U' "$STATE/logs/$i1.log" 2>&1)"
    check_eq "database $DB is 0600 root" "600 root" "$(stat -c '%a %U' "$DB" 2>&1)"

    ctl alice list
    check_match "list: table header ID PRI STATE OWNER ... COMMAND" \
        '^ *ID[[:space:]]+PRI[[:space:]]+STATE[[:space:]]+OWNER.*COMMAND' "$OUT"
    check_match "list: shows the recently finished task $i1" "^ *${i1}[[:space:]]" "$OUT"
    ctl alice list --json
    check_eq "list --json: {tasks:[...], queued:N, running:N}" true \
        "$(jq -r '(.tasks|type=="array") and (.queued|type=="number") and (.running|type=="number")' <<<"$OUT" 2>&1)"
    check_eq "list --json: contains task $i1" true "$(jq -r --argjson i "$i1" 'any(.tasks[]; .id == $i)' <<<"$OUT" 2>&1)"
    ctl alice list --state succeeded,failed --limit 1 --json
    check_eq "list --state succeeded,failed --limit 1: one finished task" "1 true" \
        "$(jq -r '"\(.tasks|length) \(all(.tasks[]; .state == "succeeded" or .state == "failed"))"' <<<"$OUT" 2>&1)"
    ctl alice list --state queued --limit 5
    check_eq "list --state queued --limit 5 exits 0" 0 "$RC"
    check_no_match "list --state queued: no finished task in the table" '[[:space:]](succeeded|failed)[[:space:]]' "$OUT"
    ctl alice list --state bogus
    check_eq "list --state bogus is a usage error (exit 2)" 2 "$RC"

    ctl alice wait "$i2"
    check_eq "wait exits with the task's exit code (3)" 3 "$RC"
    check_eq "status: failed, exit_code 3" "failed 3" "$(jq -r '"\(.state) \(.exit_code)"' <<<"$(task_json "$i2")")"
    ctl alice wait "$i3"
    check_eq "wait exits 128+15 for a task killed by SIGTERM" 143 "$RC"
    check_eq "status: signal 15 recorded" 15 "$(field "$i3" signal)"

    ctl alice wait "$i4" >/dev/null
    ctl alice logs "$i4" --tail 3
    check_eq "logs --tail 3" "98 99 100" "$(xargs <<<"$OUT")"

    i5=$(submit alice -- sh -c 'echo first; sleep 3; echo second')
    local t0; t0=$(now_ms)
    ctl alice logs "$i5" -f
    check_eq "logs -f follows until the task ends (first + second line)" "first second" "$(xargs <<<"$OUT")"
    check "logs -f returned after the task ended" is_terminal "$i5"
    check "logs -f waited for the task (took $(( $(now_ms) - t0 )) ms >= 2500)" test $(( $(now_ms) - t0 )) -ge 2500

    ctl alice wait "$i6" >/dev/null; ctl alice logs "$i6"
    check_eq "--cwd /tmp: task runs in /tmp" /tmp "$OUT"
    check_eq "--priority P0 recorded" P0 "$(field "$i7" priority)"

    ctl root wait "$ir"
    check_eq "root: wait $ir exits 0" 0 "$RC"
    ctl root logs "$ir"; log=$OUT
    check_eq "root's task runs as root" uid=0 "$(grep '^uid=' <<<"$log")"
    check_eq "root's task has root's groups" "gids=$(id -G root)" "$(grep '^gids=' <<<"$log")"
    check_eq "root's task: owner root" root "$(field "$ir" owner)"

    # Cancel a running task.
    ic=$(submit alice -- sleep 1000)
    wait_until 30 "alice: task $ic (sleep 1000) is running" is_state "$ic" running
    ctl alice cancel "$ic" --reason "no longer needed"
    check_eq "alice: cancel $ic exits 0" 0 "$RC"
    wait_until 20 "cancelled task reaches state cancelled" is_state "$ic" cancelled
    check_eq "reason = the --reason text" "no longer needed" "$(field "$ic" reason)"
    wait_until 20 "its scope is gone" scope_gone "$ic"
    ID_CANCELLED=$ic
    ctl alice wait "$ic"
    check "wait on a cancelled task exits non-zero (got $RC)" test "$RC" -ne 0
    ctl alice cancel "$ic"
    check_eq "cancelling a finished task is an error reported by the daemon (exit 1)" 1 "$RC"
}

# ============================================================ scope
sec_scope() {
    begin "scope: each task runs in claudine-task-<id>.scope in claudine.slice"
    rm -rf /tmp/scope; mkdir -m 1777 /tmp/scope
    local id pid
    id=$(submit alice -- sh -c 'echo $$ > /tmp/scope/pid; exec sleep 1001')
    wait_until 30 "task $id is running" is_state "$id" running
    wait_until 20 "task wrote its pid" test -s /tmp/scope/pid
    pid=$(cat /tmp/scope/pid)
    local unit="claudine-task-$id.scope"
    check_eq "status: unit = $unit" "$unit" "$(field "$id" unit)"
    check "systemctl is-active $unit" systemctl is-active -q "$unit"
    check_eq "ControlGroup = /claudine.slice/$unit" "/claudine.slice/$unit" "$(systemctl show -P ControlGroup "$unit")"
    check "task pid $pid is in the scope's cgroup.procs" grep -qx "$pid" "/sys/fs/cgroup/claudine.slice/$unit/cgroup.procs"
    check_eq "/proc/$pid/cgroup" "0::/claudine.slice/$unit" "$(cat /proc/"$pid"/cgroup 2>&1)"
    check_eq "the task process runs as alice" alice "$(ps -o user= -p "$pid" 2>&1 | xargs)"
    check_eq "the task has NoNewPrivs 0 (sudo works in tasks)" 0 "$(awk '/^NoNewPrivs/{print $2}' /proc/"$pid"/status 2>&1)"
    check "scope cgroup has memory.current (accounting on)" test -e "/sys/fs/cgroup/claudine.slice/$unit/memory.current"
    check_eq "claudine.slice: Memory/CPU/TasksAccounting" "yes yes yes" \
        "$(systemctl show -P MemoryAccounting claudine.slice) $(systemctl show -P CPUAccounting claudine.slice) $(systemctl show -P TasksAccounting claudine.slice)"
    check "claudine.slice is active" systemctl is-active -q claudine.slice
    local stray; stray=$(for p in $(scope_procs "$id"); do grep -L "claudine-task-$id.scope" /proc/"$p"/cgroup 2>/dev/null; done)
    check_eq "every process of the task is inside its scope" "" "$stray"
    ctl alice cancel "$id"
    wait_until 20 "after cancel the scope is gone" scope_gone "$id"
}

# ============================================================ env
sec_env() {
    begin "environment: login-like base + --env, not the caller's environment"
    local secret="s3cr3t-$RANDOM$RANDOM-value" ie ii

    ie=$(CLAUDINE_CALLER_ONLY=caller-var PATH=/opt/caller-only/bin:$PATH \
         submit alice --env "CLAUDINE_SECRET=$secret" --env "WITH_SPACE=a b" -- env)
    ii=$(CLAUDINE_CALLER_ONLY=caller-var PATH=/opt/caller-only/bin:$PATH \
         submit alice --inherit-env --env EXTRA=1 -- env)
    ctl alice wait "$ie" >/dev/null; ctl alice wait "$ii" >/dev/null
    ctl alice logs "$ie"; local e=$OUT
    check_match "HOME=/home/alice" '^HOME=/home/alice$' "$e"
    check_match "USER=alice" '^USER=alice$' "$e"
    check_match "LOGNAME=alice" '^LOGNAME=alice$' "$e"
    check_match "SHELL=/bin/bash (alice's login shell)" '^SHELL=/bin/bash$' "$e"
    check_match "PATH is set and has /usr/bin" '^PATH=(.*:)?/usr/bin(:.*)?$' "$e"
    check_match "LANG is set" '^LANG=.+' "$e"
    check_match "--env value passed" "^CLAUDINE_SECRET=$secret\$" "$e"
    check_match "--env value with a space passed" '^WITH_SPACE=a b$' "$e"
    check_no_match "the caller's other variables are not passed" '^CLAUDINE_CALLER_ONLY=' "$e"
    check_no_match "the caller's PATH is not passed" '/opt/caller-only' "$e"
    ctl alice logs "$ii"; local i=$OUT
    check_match "--inherit-env: the caller's variables are passed" '^CLAUDINE_CALLER_ONLY=caller-var$' "$i"
    check_match "--inherit-env: the caller's PATH is passed" '^PATH=/opt/caller-only/bin:' "$i"
    check_match "--inherit-env: --env still applies" '^EXTRA=1$' "$i"
    local j; j=$(task_json "$ie")
    check_no_match "status --json never shows env values" "$secret" "$j"
    note "env_keys of the finished task: $(jq -c .env_keys <<<"$j")"
    local ik; ik=$(submit alice --env "K_ONE=$secret" --env K_TWO=2 -- sleep 1005)
    wait_until 30 "task $ik with --env K_ONE, K_TWO is running" is_state "$ik" running
    j=$(task_json "$ik")
    check_eq "status of a running task: env_keys lists the --env names" '["K_ONE","K_TWO"]' "$(jq -c '.env_keys|sort' <<<"$j")"
    check_no_match "... and not their values" "$secret" "$j"
    ctl alice cancel "$ik"
    ctl alice list --all --json
    check_no_match "list --json never shows env values" "$secret" "$OUT"
    wait_until 10 "journal has the lifecycle of task $ie" journal_task_has "$ie" .
    check_no_match "env values never appear in journalctl -u claudine" "$secret" \
        "$(journalctl -q --no-pager -u claudine -o verbose)"
    # (The client's own command line, _CMDLINE of runuser's PAM messages, holds
    # the value: that is the caller's business, visible in ps anyway.)
    check_no_match "... nor in any journal message or field (but the caller's own _CMDLINE)" "$secret" \
        "$(journalctl -q --no-pager -o verbose | grep -v '^ *_CMDLINE=')"
}
journal_task_has() { journalctl -q --no-pager -u claudine CLAUDINE_TASK_ID="$1" -o cat | grep -Eiq -- "$2"; }

# ============================================================ isolation
sec_isolation() {
    begin "isolation: users see and control only their own tasks; admins everyone's"
    local ida; ida=$(submit alice -- sleep 1002)
    wait_until 30 "alice's task $ida is running" is_state "$ida" running
    norm() { sed "s/\b$2\b/<ID>/g" <<<"$1"; }

    ctl bob list --all --json
    check_eq "bob: list --all --json shows none of alice's tasks" 0 \
        "$(jq -r '[.tasks[] | select(.owner != "bob")] | length' <<<"$OUT" 2>&1)"
    ctl bob list --state running --priority P0,P1,P2 --limit 5 --json
    check_eq "bob: list --state running --limit 5 shows none of alice's tasks" 0 \
        "$(jq -r '[.tasks[] | select(.owner != "bob")] | length' <<<"$OUT" 2>&1)"
    ctl bob list --all
    check_no_match "bob: list --all (table) does not show $ida" "^ *${ida}[[:space:]]" "$OUT"
    local verb ref
    for verb in status logs cancel wait; do
        ctl bob "$verb" 999999; ref=$(norm "$ERR" 999999); local refrc=$RC
        ctl bob "$verb" "$ida"
        if [[ $RC -eq 1 && $refrc -eq 1 && "$(norm "$ERR" "$ida")" == "$ref" ]] && grep -qi 'not found' <<<"$ERR"; then
            pass "bob: $verb of alice's task = same 'not found' as id 999999 (exit 1)"
        else
            fail "bob: $verb of alice's task must look exactly like an unknown id"
            note "999999: exit $refrc: $ref"; note "$ida: exit $RC: $(norm "$ERR" "$ida")"
        fi
    done
    check_eq "alice's task still running after bob's cancel" running "$(state_of "$ida")"
    ctl bob list --user alice --json
    if [[ $RC -ne 0 ]]; then
        pass "bob: list --user alice is refused (exit $RC)"
    else
        check_eq "bob: list --user alice shows none of alice's tasks" 0 \
            "$(jq -r '[.tasks[] | select(.owner == "alice")] | length' <<<"$OUT" 2>&1)"
    fi

    ctl carol list
    check_eq "carol (not in group claudine): list exits 77" 77 "$RC"
    check_match "carol: message says permission denied" '[Pp]ermission|denied|claudine' "$ERR"
    ctl carol submit -- true
    check_eq "carol: submit exits 77" 77 "$RC"

    ctl dave list --all --json
    check_eq "dave (claudine-admin): list --all shows alice's task" true \
        "$(jq -r --argjson i "$ida" 'any(.tasks[]; .id == $i)' <<<"$OUT" 2>&1)"
    ctl dave list --user alice --json
    check_eq "dave: list --user alice shows only alice's tasks, including $ida" true \
        "$(jq -r --argjson i "$ida" 'any(.tasks[]; .id == $i) and all(.tasks[]; .owner == "alice")' <<<"$OUT" 2>&1)"
    ctl dave status "$ida"
    check_eq "dave: status of alice's task exits 0" 0 "$RC"
    ctl dave logs "$ida"
    check_eq "dave: logs of alice's task exits 0" 0 "$RC"
    ctl root list --all --json
    check_eq "root: list --all shows alice's and root's tasks" true \
        "$(jq -r --argjson i "$ida" --argjson r "${ID_ROOT:-0}" 'any(.tasks[]; .id == $i) and ($r == 0 or any(.tasks[]; .id == $r))' <<<"$OUT" 2>&1)"
    ctl dave cancel "$ida" --reason "admin stop"
    check_eq "dave: cancel alice's task exits 0" 0 "$RC"
    wait_until 20 "alice's task is cancelled by dave" is_state "$ida" cancelled
    check_eq "reason recorded" "admin stop" "$(field "$ida" reason)"
}

# ============================================================ bad input
sec_badinput() {
    begin "bad input: the daemon reports errors and keeps serving"
    local pid0 nr0; pid0=$(main_pid); nr0=$(systemctl show -P NRestarts claudine)
    ctl alice status 999999
    check_eq "unknown id: exit 1" 1 "$RC"
    check_match "unknown id: message says not found" '[Nn]ot found' "$ERR"
    ctl alice status abc
    check_eq "status abc: usage error, exit 2" 2 "$RC"
    ctl alice frobnicate
    check_eq "unknown subcommand: exit 2" 2 "$RC"
    ctl alice submit --priority P7 -- true
    check_eq "--priority P7: usage error, exit 2" 2 "$RC"
    ctl alice submit --
    check "empty command (submit --): exit 1 or 2 (got $RC)" test "$RC" = 1 -o "$RC" = 2
    ctl alice submit --env NOEQUALS -- true
    check "--env without '=': exit 1 or 2 (got $RC)" test "$RC" = 1 -o "$RC" = 2

    rm -f /tmp/badcwd-ran
    bad_cwd alice /nonexistent/claudine-dir "cwd that does not exist"
    bad_cwd alice /root "cwd alice cannot enter (/root)"
    check "the command never ran in a bad cwd" test ! -e /tmp/badcwd-ran
    check "daemon still active" daemon_active

    # Raw HTTP with curl (root may connect).
    http() { # METHOD PATH BODY [curl args]: prints the status code, body in $_TMP/body
        local m=$1 p=$2 b=$3; shift 3
        curl -s --max-time 20 -o "$_TMP/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$m" \
            -H 'Content-Type: application/json' --data-binary "$b" "$@" "http://localhost$p"
    }
    check_eq "POST '{bad' -> 400" 400 "$(http POST /v1/tasks '{bad')"
    check "... with a JSON error body" jq -e '.error.message | length > 0' "$_TMP/body"
    check_eq "POST with an unknown field -> 400" 400 "$(http POST /v1/tasks '{"argv":["true"],"cwd":"/tmp","bogus":1}')"
    check_eq "POST argv of the wrong type -> 400" 400 "$(http POST /v1/tasks '{"argv":"true","cwd":"/tmp"}')"
    check_eq "POST empty argv -> 400" 400 "$(http POST /v1/tasks '{"argv":[],"cwd":"/tmp"}')"
    check_eq "POST relative cwd -> 400" 400 "$(http POST /v1/tasks '{"argv":["true"],"cwd":"tmp"}')"
    check_eq "Claudine-Protocol: 99 -> 400" 400 \
        "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $SOCK -H 'Claudine-Protocol: 99' http://localhost/v1/version)"
    check_eq "GET unknown path -> 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $SOCK http://localhost/v1/nope)"
    { printf '{"argv":["'; head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"],"cwd":"/tmp"}'; } > "$_TMP/big.json"
    check_eq "POST 4 MiB body -> 413 (3 MiB allowed)" 413 "$(http POST /v1/tasks "@$_TMP/big.json")"
    { printf '{"claude":{"prompt":"'; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"},"cwd":"/tmp"}'; } > "$_TMP/big.json"
    check_eq "POST a 2 MiB prompt -> 400 (1 MiB allowed)" 400 "$(http POST /v1/tasks "@$_TMP/big.json")"
    check_eq "truncated request (Content-Length 200, 20 bytes sent, then EOF): answered or closed, no hang" ok \
        "$(python3 - "$SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(15); s.connect(sys.argv[1])
s.sendall(b'POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"argv":["true"],"c')
s.shutdown(socket.SHUT_WR)
try:
    while s.recv(4096): pass
    print("ok")
except socket.timeout:
    print("hang")
EOF
)"
    # A client that connects and sends half a request line stays connected;
    # others must still be served meanwhile.
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"GET /v1/ver")
time.sleep(30)' "$SOCK" &
    local slow=$!
    ctl alice list
    check_eq "while a client stalls mid-request, others are served" 0 "$RC"
    kill "$slow" 2>/dev/null; wait "$slow" 2>/dev/null
    check "daemon still answers after the bad requests" daemon_answers
    check_eq "daemon did not crash or restart (same MainPID, NRestarts)" "$pid0 $nr0" \
        "$(main_pid) $(systemctl show -P NRestarts claudine)"
}
# bad_cwd USER DIR DESC: the task must fail with a reason naming DIR (or the
# submit is refused with a message naming it).
bad_cwd() {
    local user=$1 dir=$2 desc=$3 id
    ctl "$user" submit --cwd "$dir" -- sh -c 'echo ran > /tmp/badcwd-ran'
    if [[ $RC -eq 0 && $OUT =~ ^[0-9]+$ ]]; then
        id=$OUT
        if poll 30 is_terminal "$id"; then
            local j; j=$(task_json "$id")
            check_eq "$desc: task $id fails" failed "$(jq -r .state <<<"$j")"
            check_match "$desc: reason names $dir" "$dir" "$(jq -r '.reason // ""' <<<"$j")"
        else fail "$desc: task $id did not end"; fi
    else
        check_match "$desc: submit refused (exit $RC) with a message naming $dir" "$dir" "$ERR"
    fi
}

# ============================================================ journal
sec_journal() {
    begin "journal: lifecycle lines per task with CLAUDINE_TASK_ID, CLAUDINE_USER, CLAUDINE_STATE"
    local id=$ID_BASIC
    if [[ -z $id ]]; then id=$(submit alice -- true); ctl alice wait "$id" >/dev/null; fi
    wait_until 10 "journalctl -u claudine CLAUDINE_TASK_ID=$id has lines" journal_task_has "$id" .
    local msgs; msgs=$(journalctl -q --no-pager -u claudine CLAUDINE_TASK_ID="$id" -o cat)
    detail "$msgs" 6
    check_match "task $id: a 'submitted' line" '[Ss]ubmit' "$msgs"
    check_match "task $id: a 'started' line" '[Ss]tart' "$msgs"
    check_match "task $id: a 'finished' line" '[Ff]inish|[Ss]ucceeded|[Ee]xit' "$msgs"
    local js; js=$(journalctl -q --no-pager -u claudine CLAUDINE_TASK_ID="$id" -o json)
    check_eq "CLAUDINE_USER=alice on its lines" alice "$(jq -r '.CLAUDINE_USER // empty' <<<"$js" | sort -u | xargs)"
    check_match "CLAUDINE_STATE on its lines includes succeeded" succeeded "$(jq -r '.CLAUDINE_STATE // empty' <<<"$js")"
    local all_ids; all_ids=$(journalctl -q --no-pager -u claudine -o json | jq -r '.CLAUDINE_TASK_ID // empty' | sort -u)
    local t missing=
    for t in $ID_ROOT $ID_CANCELLED; do grep -qx "$t" <<<"$all_ids" || missing+=" $t"; done
    check_eq "the root and the cancelled task have journal lines too" "" "$missing"
    if [[ -n $ID_CANCELLED ]]; then
        check_match "cancelled task: CLAUDINE_STATE=cancelled logged" cancelled \
            "$(journalctl -q --no-pager -u claudine CLAUDINE_TASK_ID="$ID_CANCELLED" -o json | jq -r '.CLAUDINE_STATE // empty')"
    fi
}

# ============================================================ cancel a process tree
sec_cancel_tree() {
    begin "cancel kills the whole tree, including a double-forked setsid grandchild"
    local id
    id=$(submit alice -- sh -c '(setsid sleep 1003 &) ; sleep 1003')
    wait_until 30 "task $id is running" is_state "$id" running
    wait_until 20 "both 'sleep 1003' processes exist" procs_at_least 2 'sleep 1003'
    local p stray=
    for p in $(pgrep -f 'sleep 1003'); do
        [[ -e /proc/$p ]] && ! grep -q "claudine-task-$id.scope" /proc/"$p"/cgroup 2>/dev/null && stray+=" $p"
    done
    check_eq "the setsid grandchild is still inside the task's scope" "" "$stray"
    ctl alice cancel "$id"
    check_eq "cancel exits 0" 0 "$RC"
    wait_until 30 "state cancelled" is_state "$id" cancelled
    wait_until 30 "no 'sleep 1003' left (pgrep -f)" no_procs 'sleep 1003'
    wait_until 30 "scope claudine-task-$id.scope gone" scope_gone "$id"
}
procs_at_least() { (( $(pgrep -fc "$2") >= $1 )); }
no_procs() { ! pgrep -f "$1" >/dev/null; }

# ============================================================ config
sec_config() {
    begin "config: an invalid /etc/claudine/claudine.toml stops the daemon and is named in the journal"
    cp "$CONF" "$_TMP/claudine.toml.orig"
    bad_config 'max_running = "x"' max_running
    bad_config 'no_such_key = 1' no_such_key
    cp "$_TMP/claudine.toml.orig" "$CONF"
    check "with the shipped example config the daemon starts again" start_daemon
}
bad_config() {
    local line=$1 key=$2 cur
    write_config "$line"
    cur=$(journal_cursor)
    check_not "'$line': systemctl restart claudine fails" systemctl restart claudine
    check_not "'$line': daemon not active" daemon_answers
    wait_until 15 "'$line': journalctl -u claudine names '$key'" journal_has "$cur" "$key"
    systemctl stop claudine 2>/dev/null; systemctl reset-failed claudine 2>/dev/null
}
journal_has() { journal_since "$1" -o cat | grep -Eq -- "$2"; }

# ============================================================ priority
sec_priority() {
    begin "priority: P0 before P1 before P2, FIFO within a priority (max_running = 1)"
    write_config 'max_running = 1'
    check "restart with max_running = 1" restart_daemon
    rm -rf /tmp/prio; mkdir /tmp/prio; chown alice /tmp/prio
    local blk p2 p1a p1b p0
    blk=$(submit alice -- sleep 1004)
    wait_until 30 "blocker $blk is running" is_state "$blk" running
    p2=$(submit alice --priority P2 -- sh -c 'echo P2 >> /tmp/prio/order')
    p1a=$(submit alice --priority P1 -- sh -c 'echo P1a >> /tmp/prio/order')
    p1b=$(submit alice -- sh -c 'echo P1b >> /tmp/prio/order')
    p0=$(submit alice --priority P0 -- sh -c 'echo P0 >> /tmp/prio/order')
    check_eq "all 4 wait behind the blocker" 4 "$(count_state queued "$p2" "$p1a" "$p1b" "$p0")"
    check_eq "queue_position: P0=1 P1a=2 P1b=3 P2=4" "1 2 3 4" \
        "$(field "$p0" queue_position) $(field "$p1a" queue_position) $(field "$p1b" queue_position) $(field "$p2" queue_position)"
    check_match "a queued task says why it waits (waiting_reason)" '.' "$(field "$p0" waiting_reason)"
    ctl alice cancel "$blk"
    wait_until 60 "all 4 finish" all_terminal "$p2" "$p1a" "$p1b" "$p0"
    check_eq "they ran in the order P0, P1a, P1b, P2" "P0 P1a P1b P2" "$(xargs < /tmp/prio/order)"
    check_eq "all 4 succeeded" 4 "$(count_state succeeded "$p2" "$p1a" "$p1b" "$p0")"
}

# ============================================================ restart / kill -9
sec_restart() {
    begin "restart and kill -9 of claudined with 3 running and 20 waiting tasks: nothing lost, nothing twice"
    write_config 'max_running = 3'
    check "restart with max_running = 3" restart_daemon
    rm -rf /tmp/rk; mkdir /tmp/rk; chown alice /tmp/rk
    local i r=() w=()
    for i in 1 2 3; do
        r+=("$(submit alice -- sh -c "echo r$i >> /tmp/rk/ran; echo \$\$ > /tmp/rk/pid.r$i; while [ ! -e /tmp/rk/release ]; do sleep 0.2; done; exit 7")")
    done
    wait_until 60 "r1..r3 are running" count_is 3 running "${r[@]}"
    for i in $(seq 1 20); do w+=("$(submit alice -- sh -c "echo w$i >> /tmp/rk/ran")"); done
    check_eq "23 tasks submitted" 23 "$(printf '%s\n' "${r[@]}" "${w[@]}" | grep -c '^[0-9]')"
    check_eq "20 tasks wait (max_running = 3)" 20 "$(count_state queued "${w[@]}")"
    wait_until 20 "the 3 running tasks wrote their pids" test -s /tmp/rk/pid.r1 -a -s /tmp/rk/pid.r2 -a -s /tmp/rk/pid.r3
    local pids; pids=$(cat /tmp/rk/pid.r* | sort | xargs)
    check_eq "3 task processes alive" "$pids" "$(alive $pids)"
    local p stray=
    for p in $pids; do grep -q '^0::/claudine.slice/claudine-task-[0-9]*\.scope$' /proc/"$p"/cgroup || stray+=" $p"; done
    check_eq "each runs inside a claudine task scope" "" "$stray"

    local pid0 t0; pid0=$(main_pid)
    check "systemctl restart claudine" restart_daemon
    check_eq "after restart: the same 3 task processes still run" "$pids" "$(alive $pids)"
    check_eq "after restart: 3 running (adopted)" 3 "$(count_state running "${r[@]}")"
    check_eq "after restart: 20 still waiting" 20 "$(count_state queued "${w[@]}")"

    pid0=$(main_pid); t0=$(now_ms)
    check_eq "pidof claudined = the service's MainPID" "$pid0" "$(pidof claudined)"
    kill -9 "$(pidof claudined)"
    wait_until 30 "after kill -9: systemd restarts claudined (new MainPID, answering)" restarted_since "$pid0"
    note "kill -9 -> answering again: $(( $(now_ms) - t0 )) ms"
    check_eq "after kill -9: the same 3 task processes still run" "$pids" "$(alive $pids)"
    check_eq "after kill -9: 3 running (adopted)" 3 "$(count_state running "${r[@]}")"
    check_eq "after kill -9: 20 still waiting" 20 "$(count_state queued "${w[@]}")"
    check_eq "no waiting task started while running tasks were held" "r1 r2 r3" "$(sort /tmp/rk/ran | xargs)"

    # Let the running tasks end while the daemon is down.
    systemctl stop claudine
    check_eq "after systemctl stop: the 3 task processes still run (KillMode=process)" "$pids" "$(alive $pids)"
    touch /tmp/rk/release
    wait_until 30 "the 3 tasks end while claudined is stopped" none_alive $pids
    check "start claudine again" start_daemon
    wait_until 180 "all 23 tasks reach a terminal state" all_terminal "${r[@]}" "${w[@]}"
    check_eq "exit code 7 recorded for the 3 tasks that ended while the daemon was down" "7 7 7" \
        "$(for i in "${r[@]}"; do field "$i" exit_code; done | xargs)"
    check_eq "the 20 waiting tasks succeeded" 20 "$(count_state succeeded "${w[@]}")"
    local expect; expect=$( { printf 'r%s\n' 1 2 3; printf 'w%s\n' $(seq 1 20); } | sort | xargs)
    check_eq "each of the 23 tasks ran exactly once" "$expect" "$(sort /tmp/rk/ran | xargs)"
    local ids; ids=$(printf '%s\n' "${r[@]}" "${w[@]}" | jq -sc 'map(tonumber)')
    check_eq "no task was launched twice (attempts = 1)" 23 \
        "$(all_json | jq --argjson ids "$ids" '[.tasks[] | select((.id as $i | $ids | index($i)) and .attempts == 1)] | length')"
    wait_until 10 "journal: each of the 23 tasks has a line with its id and its final state" journal_final_states "$ids"
}
alive() { local p; for p in "$@"; do [[ -e /proc/$p ]] && echo "$p"; done | xargs; }
none_alive() { [[ -z $(alive "$@") ]]; }
# journal_final_states IDS_JSON: every id has a journal line with a terminal CLAUDINE_STATE.
journal_final_states() {
    journalctl -q --no-pager -u claudine -o json | jq -s -e --argjson ids "$1" '
        [.[] | select(.CLAUDINE_TASK_ID != null
                      and (.CLAUDINE_STATE // "" | test("^(succeeded|failed|cancelled|interrupted)$")))
             | .CLAUDINE_TASK_ID | tonumber] as $done
        | all($ids[]; . as $i | $done | index($i))' >/dev/null
}
restarted_since() { local p; p=$(main_pid); [[ $p != 0 && $p != "$1" ]] && daemon_answers; }

# ============================================================ vanished scope, leftovers
sec_vanish() {
    begin "a scope that vanishes while claudined is down: the task is interrupted, not failed"
    local id
    id=$(submit alice -- sleep 1004)
    wait_until 30 "task $id is running" is_state "$id" running
    check "systemctl stop claudine" systemctl stop claudine
    # What a host reboot does to a scope: every process in it dies, the
    # supervisor too, so no exit record is left.
    check "SIGKILL everything in claudine-task-$id.scope" systemctl kill --signal=SIGKILL "claudine-task-$id.scope"
    wait_until 30 "scope claudine-task-$id.scope gone" scope_gone "$id"
    check "start claudine" start_daemon
    wait_until 30 "task $id is interrupted" is_state "$id" interrupted
    check_match "its reason says the scope vanished" "vanished" "$(field "$id" reason)"
    check_eq "no exit code was invented" "" "$(field "$id" exit_code)"
    check "journal: task $id interrupted, with its id" journal_task_has "$id" "interrupted"
}

sec_leftover() {
    begin "a command that exits leaves nothing running: its daemonized child goes with the scope"
    local id
    id=$(submit alice -- sh -c '(setsid sleep 1005 &); exit 0')
    wait_until 30 "task $id succeeded" is_state "$id" succeeded
    wait_until 30 "no 'sleep 1005' left (pgrep -f)" no_procs 'sleep 1005'
    wait_until 30 "scope claudine-task-$id.scope gone" scope_gone "$id"
}

# ============================================================ watchdog
sec_watchdog() {
    begin "watchdog: a claudined that stops answering systemd is restarted; tasks survive"
    local dropin=/etc/systemd/system/claudine.service.d
    mkdir -p "$dropin"
    printf '[Service]\nWatchdogSec=3\nTimeoutAbortSec=2\n' > "$dropin/test-watchdog.conf"
    systemctl daemon-reload
    check "restart with WatchdogSec=3" restart_daemon
    rm -f /tmp/wd.pid
    local id pid mp0 t0
    id=$(submit alice -- sh -c 'echo $$ > /tmp/wd.pid; exec sleep 1007')
    wait_until 30 "task $id is running" is_state "$id" running
    wait_until 10 "task wrote its pid" test -s /tmp/wd.pid
    pid=$(cat /tmp/wd.pid)
    # Still alive after more than one watchdog period: the loop keeps pinging.
    local alive_until=$(( $(now_ms) + 4500 ))
    while (( $(now_ms) < alive_until )); do sleep 0.5; done
    mp0=$(main_pid)
    check "after 4.5 s with WatchdogSec=3 the same claudined still runs" test -e "/proc/$mp0"
    t0=$(now_ms)
    kill -STOP "$mp0"
    wait_until 60 "watchdog fires and systemd restarts claudined (new MainPID, answering)" restarted_since "$mp0"
    note "SIGSTOP -> answering again: $(( $(now_ms) - t0 )) ms"
    check "journal: systemd reports the watchdog timeout" bash -c "journalctl -q --no-pager -u claudine | grep -qi 'watchdog timeout'"
    check "the task's process survived" test -e "/proc/$pid"
    check_eq "task $id adopted, still running" running "$(state_of "$id")"
    ctl alice cancel "$id"
    wait_until 30 "task $id cancelled" is_state "$id" cancelled
    rm -rf "$dropin"
    systemctl daemon-reload
    check "restart with the packaged watchdog setting" restart_daemon
}

# ============================================================ upgrade
sec_upgrade() {
    begin "upgrade: reinstalling the package restarts only the daemon; running tasks survive"
    rm -f /tmp/upg.pid
    local id pid mp0
    id=$(submit alice -- sh -c 'echo $$ > /tmp/upg.pid; exec sleep 1006')
    wait_until 30 "task $id is running" is_state "$id" running
    wait_until 10 "task wrote its pid" test -s /tmp/upg.pid
    pid=$(cat /tmp/upg.pid); mp0=$(main_pid)
    check "dpkg -i of the same .deb (upgrade path: prerm upgrade, postinst configure)" \
        env DEBIAN_FRONTEND=noninteractive dpkg -i /mnt/testbed/claudine_*.deb
    wait_until 30 "daemon restarted by the upgrade (new MainPID, answering)" restarted_since "$mp0"
    check "the task's process survived the upgrade" test -e "/proc/$pid"
    check "its scope is still active" scope_active "$id"
    check_eq "the task is still running (adopted)" running "$(state_of "$id")"
    check "claudine.slice is still active" systemctl is-active -q claudine.slice
    ctl alice cancel "$id"
    wait_until 20 "cancel after the upgrade works" is_state "$id" cancelled
}

# ============================================================ database faults
sec_dbfaults() {
    begin "database: a corrupt or newer-schema claudine.db is refused and never overwritten"
    local n_before; n_before=$(all_json | jq '.tasks | length')
    systemctl stop claudine
    ls -la "$STATE" | sed 's/^/      /'
    check "no leftover -wal content after a clean stop" bash -c "[[ ! -s $DB-wal ]]"
    cp -a "$DB" "$_TMP/db.good"

    # 1. garbage in the middle third of the file
    local size pages off cnt sum ino cur
    size=$(stat -c %s "$DB"); pages=$(( size / 4096 ))
    off=$(( pages / 3 )); cnt=$(( pages / 3 )); (( off < 1 )) && off=1; (( cnt < 1 )) && cnt=1
    head -c $(( cnt * 4096 )) /dev/urandom | dd of="$DB" bs=4096 seek="$off" conv=notrunc iflag=fullblock status=none
    sum=$(sha256sum < "$DB"); ino=$(stat -c %i "$DB")
    note "overwrote pages $off..$((off + cnt - 1)) of $pages with random bytes"
    cur=$(journal_cursor)
    check_not "start with a corrupt database fails" start_daemon
    wait_until 15 "journal names the database path" journal_has "$cur" "$DB"
    systemctl stop claudine 2>/dev/null
    check_eq "corrupt database not overwritten (sha256 unchanged)" "$sum" "$(sha256sum < "$DB")"
    check_eq "corrupt database is still the same file (inode)" "$ino" "$(stat -c %i "$DB")"
    cp -a "$_TMP/db.good" "$DB"; rm -f "$DB-wal" "$DB-shm"
    check "start with the restored database" start_daemon
    check_eq "all $n_before tasks are back" "$n_before" "$(all_json | jq '.tasks | length')"

    # 2. a newer schema: PRAGMA user_version is the big-endian u32 at offset 60
    systemctl stop claudine
    cp -a "$DB" "$_TMP/db.good"
    note "user_version before: $(od -An -tu1 -j60 -N4 "$DB" | xargs)"
    printf '\x00\x00\x03\xe7' | dd of="$DB" bs=1 seek=60 count=4 conv=notrunc status=none   # 999
    sum=$(sha256sum < "$DB")
    cur=$(journal_cursor)
    check_not "start with a database of schema version 999 fails" start_daemon
    wait_until 15 "journal mentions the schema version" journal_has "$cur" '[Ss]chema.*999|999.*[Ss]chema|[Ss]chema version'
    systemctl stop claudine 2>/dev/null
    check_eq "newer-schema database not modified (sha256 unchanged)" "$sum" "$(sha256sum < "$DB")"
    cp -a "$_TMP/db.good" "$DB"; rm -f "$DB-wal" "$DB-shm"
    check "start with the restored database" start_daemon
}

# ============================================================ daemon stopped
sec_stopped() {
    begin "claudined stopped: claudinectl says so and how to start it"
    systemctl stop claudine
    ctl alice list
    check_eq "list exits 69 when the daemon is not running" 69 "$RC"
    check_match "message says claudined is not running" 'not running' "$ERR"
    check_match "message says: sudo systemctl start claudine" 'sudo systemctl start claudine' "$ERR"
    ctl alice submit -- true
    check_eq "submit exits 69 too" 69 "$RC"
    check "start again" start_daemon
}

# ============================================================ remove / purge (last)
sec_remove() {
    begin "package remove keeps the state; purge deletes it"
    journalctl -q --no-pager -u claudine > "$TESTBED_OUT/claudine-journal.txt" 2>/dev/null
    all_json > "$TESTBED_OUT/tasks.json" 2>/dev/null
    local keep; keep=$(submit alice -- sleep 1000)
    wait_until 30 "a task runs before the remove" is_state "$keep" running
    check "apt-get remove -y claudine" env DEBIAN_FRONTEND=noninteractive apt-get remove -y claudine
    check_not "service no longer active" daemon_active
    check "the running task keeps running after remove (README)" scope_active "$keep"
    check "/var/lib/claudine/claudine.db kept" test -f "$DB"
    check "/etc/claudine/claudine.toml kept (conffile)" test -f "$CONF"
    check_eq "dpkg: deinstall ok config-files" "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' claudine 2>&1)"
    check "apt-get purge -y claudine" env DEBIAN_FRONTEND=noninteractive apt-get purge -y claudine
    check "purge stopped the task" scope_gone "$keep"
    check "/var/lib/claudine deleted" test ! -e "$STATE"
    check "/etc/claudine deleted" test ! -e /etc/claudine
    check_not "package gone" dpkg-query -W -f='${Status}' claudine
}

# ============================================================ main
SECTIONS=(install basic scope env isolation separation badinput journal cancel_tree config priority fresh limits events metrics monitor top autoscale fairshare claude suspend relaunch protect worktree restart faults quota flood vanish leftover watchdog secrets diskfull upgrade dbfaults stopped reboot shutdown remove)
if [[ -n ${SUITE_ONLY:-} ]]; then
    # shellcheck disable=SC2206
    SECTIONS=(install $SUITE_ONLY)
fi
TESTBED_OUT=${TESTBED_OUT:-/tmp}
# After a reboot a section asked for (reboot_guest): the counters are back,
# the sections before it are skipped and it is called again with RESUMED=1.
if ! resume_suite; then summary; exit $(( FAILS > 125 ? 125 : FAILS )); fi
for s in "${SECTIONS[@]}"; do
    if [[ -n $RESUME_AT ]]; then
        [[ $s == "$RESUME_AT" ]] || continue
        RESUME_AT=; RESUMED=1
        # The section checks itself how the daemon came back from the boot.
        "sec_$s"; RESUMED=0
        continue
    fi
    if [[ $s != install && $s != remove ]] && ! daemon_answers; then
        # A section that left the daemon down (or a crash): try once to recover.
        start_daemon >/dev/null 2>&1
        if ! daemon_answers; then
            # shellcheck disable=SC2034  # read by fail()
            CURRENT_SECTION=$s
            fail "section $s skipped: claudined is not answering"
            journalctl -q --no-pager -u claudine -n 15 | sed 's/^/      | /'
            continue
        fi
    fi
    "sec_$s"
done
[[ -z $RESUME_AT ]] || fail "resumed after a reboot at section $RESUME_AT, which is not in SECTIONS"
summary
exit $(( FAILS > 125 ? 125 : FAILS ))
