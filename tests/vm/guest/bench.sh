#!/bin/bash
# tests/vm/guest/bench.sh - claudine figures, measured inside the test VM
# (tests/vm/run.sh --bench). Prints figures, not PASS/FAIL; they go to stdout
# and to $TESTBED_OUT/bench.txt. The guest usually runs under software
# emulation: compare figures only with the baselines measured next to them in
# the same guest (systemd-run --scope, /bin/true), never with other machines.
#
# Sections: "sched" (bench_sched.sh: a mixed workload, claudine vs pueue at fixed
# parallelism; first, while claudine has its shipped configuration and an empty
# queue), "claude" (bench_claude.sh: submit -> claude's first API request against
# a direct launch) and "base" (all the others). BENCH_ONLY=sched, claude or base
# runs one of them (tests/vm/run.sh passes BENCH_* through suite.env).

cd "$(dirname "${BASH_SOURCE[0]}")" || exit 125
# shellcheck source=lib.sh
source ./lib.sh
exec 2>&1
[[ -f suite.env ]] && source ./suite.env
# shellcheck source=bench_sched.sh
source ./bench_sched.sh
# shellcheck source=bench_claude.sh
source ./bench_claude.sh
OUTF=${TESTBED_OUT:-/tmp}/bench.txt
: > "$OUTF"
BENCH_ONLY=${BENCH_ONLY:-}
N_LAT=${BENCH_N_LAT:-30}
N_SUBMIT=${BENCH_N_SUBMIT:-500}
N_QUEUE=${BENCH_N_QUEUE:-10000}

fig() { printf '%-64s %s\n' "$1" "$2" | tee -a "$OUTF"; }
head_() { printf '\n## %s\n' "$*" | tee -a "$OUTF"; }
# stats: reads numbers (one per line) -> "median X  p99 Y  min Z  max W  (n=N)"
stats() {
    sort -n | awk '{a[NR]=$1} END {
        if (NR == 0) { print "no data"; exit }
        p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
        printf "median %s  p99 %s  min %s  max %s  (n=%d)\n", m, a[p99], a[1], a[NR], NR }'
}
rss_kb() { ps -o rss= -p "$(main_pid)" 2>/dev/null | xargs; }

head_ "environment"
fig "kernel / systemd" "$(uname -r) / $(systemctl --version | head -1 | cut -d' ' -f2)"
fig "vCPUs / RAM" "$(nproc) / $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo)"
fig "virtualisation" "$(systemd-detect-virt 2>/dev/null) ($(grep -qw hypervisor /proc/cpuinfo && echo guest))"

deb=$(ls /mnt/testbed/claudine_*.deb 2>/dev/null | head -1)
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" >/dev/null 2>&1 \
    || { echo "cannot install $deb"; exit 1; }
poll 60 daemon_answers || { echo "claudined not answering"; journalctl -u claudine -n 20 --no-pager; exit 1; }
useradd -m -s /bin/bash -G claudine alice
fig "package" "$(basename "$deb")"
fig "claudined RSS at start (kB)" "$(rss_kb)"

# ------------------------------------------------------------ scheduling
[[ -z $BENCH_ONLY || $BENCH_ONLY == sched ]] && bench_sched
if [[ $BENCH_ONLY == sched ]]; then echo; echo "figures written to $OUTF"; exit 0; fi
[[ -z $BENCH_ONLY || $BENCH_ONLY == claude ]] && bench_claude
if [[ $BENCH_ONLY == claude ]]; then echo; echo "figures written to $OUTF"; exit 0; fi

# ------------------------------------------------------------ latency
head_ "submit -> command running, $N_LAT times (ms, from just before the call to the command's first instruction)"
rm -rf /tmp/b; mkdir -m 1777 /tmp/b
# One shell as alice runs the loop (runuser per call would add ~130 ms under TCG).
as alice bash -c '
for i in $(seq 1 "$1"); do
    t0=$(date +%s%3N)
    id=$(claudinectl submit -- sh -c "date +%s%3N > /tmp/b/c$i")
    t1=$(date +%s%3N)
    claudinectl wait "$id" >/dev/null
    echo "$i $id $t0 $t1"
done' lat "$N_LAT" > /tmp/b/lat.txt
: > "$_TMP/lat_cmd"; : > "$_TMP/lat_started"; : > "$_TMP/lat_rt"
while read -r i id t0 t1; do
    echo $((t1 - t0)) >> "$_TMP/lat_rt"
    echo $(( $(cat /tmp/b/c"$i") - t0 )) >> "$_TMP/lat_cmd"
    echo $(( $(field "$id" started_ms) - t0 )) >> "$_TMP/lat_started"
done < /tmp/b/lat.txt
fig "claudinectl submit round trip" "$(stats < "$_TMP/lat_rt")"
fig "claudine: submit -> started_ms (daemon's view)" "$(stats < "$_TMP/lat_started")"
fig "claudine: submit -> command running (task's own clock)" "$(stats < "$_TMP/lat_cmd")"
: > "$_TMP/sr_cmd"; : > "$_TMP/sr_rt"
for i in $(seq 1 "$N_LAT"); do
    t0=$(now_ms)
    systemd-run --scope -q --slice=bench.slice sh -c "date +%s%3N > /tmp/b/s$i"
    t1=$(now_ms)
    echo $(( $(cat /tmp/b/s"$i") - t0 )) >> "$_TMP/sr_cmd"
    echo $((t1 - t0)) >> "$_TMP/sr_rt"
done
fig "baseline systemd-run --scope: call -> command running" "$(stats < "$_TMP/sr_cmd")"
fig "baseline systemd-run --scope sh -c 'date': whole call" "$(stats < "$_TMP/sr_rt")"
t0=$(date +%s%N); for i in $(seq 1 "$N_LAT"); do /bin/true; done; t1=$(date +%s%N)
fig "baseline fork+exec /bin/true (ms, mean of $N_LAT)" "$(awk -v d=$((t1 - t0)) -v n="$N_LAT" 'BEGIN{printf "%.1f", d/n/1e6}')"
id=$(tail -1 /tmp/b/lat.txt | cut -d' ' -f2)
as alice bash -c 'for i in $(seq 1 "$1"); do t0=$(date +%s%N); claudinectl status "$2" >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 )); done' \
    st "$N_LAT" "$id" > "$_TMP/st"
fig "claudinectl status as alice, idle queue (ms)" "$(stats < "$_TMP/st")"
: > "$_TMP/ver"
for i in $(seq 1 "$N_LAT"); do
    t0=$(date +%s%N); curl -sf --unix-socket "$SOCK" http://localhost/v1/version >/dev/null
    echo $(( ($(date +%s%N) - t0) / 1000000 )) >> "$_TMP/ver"
done
fig "baseline curl GET /v1/version on the socket (ms)" "$(stats < "$_TMP/ver")"

# ------------------------------------------------------------ monitoring
N_MON=${BENCH_N_MON:-100}
head_ "the cost of monitoring: $N_MON running tasks sampled every 1 s"
# ms of CPU (user + system) claudined used per second over S seconds.
daemon_cpu_per_s() {
    local pid t0 t1 s=$1 hz; pid=$(main_pid); hz=$(getconf CLK_TCK)
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); sleep "$s"
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    awk -v a="$t0" -v b="$t1" -v s="$s" -v hz="$hz" 'BEGIN{printf "%.1f", (b - a) * 1000 / hz / s}'
}
write_config 'cpu_max_percent = 100' 'admission_settle_ms = 0'
restart_daemon || { echo "restart failed"; exit 1; }
fig "claudined CPU, no task running (ms per s, over 20 s)" "$(daemon_cpu_per_s 20)"
as alice bash -c 'for i in $(seq 1 "$1"); do claudinectl submit -- sleep 100000 >/dev/null; done' mon "$N_MON"
poll 600 bash -c "[[ \$(ls -d /sys/fs/cgroup/claudine.slice/claudine-task-*.scope 2>/dev/null | wc -l) -ge $N_MON ]]" \
    || echo "only $(ls -d /sys/fs/cgroup/claudine.slice/claudine-task-*.scope | wc -l) running"
sleep 5
fig "claudined CPU, $N_MON running (ms per s, over 20 s)" "$(daemon_cpu_per_s 20)"
files=()
for d in /sys/fs/cgroup/claudine.slice/claudine-task-*.scope; do
    files+=("$d"/{memory.current,memory.peak,memory.stat,memory.pressure,cpu.stat,cpu.pressure,pids.current,cgroup.procs})
done
TIMEFORMAT='%U %S'
cost=$( { time (for i in $(seq 1 20); do cat "${files[@]}" > /dev/null; done) ; } 2>&1 )
fig "baseline: cat of the same ${#files[@]} files, one cat per round (ms CPU per round, 20 rounds)" \
    "$(awk -v u="${cost% *}" -v s="${cost#* }" 'BEGIN{printf "%.1f", (u + s) * 1000 / 20}')"
fig "claudined RSS with $N_MON running (kB)" "$(rss_kb)"
ctl root status "$(all_json | jq '[.tasks[] | select(.state == "running")][0].id')"
fig "claudinectl status of a running task (activity line)" "$(grep -E '^activity:' <<<"$OUT" | cut -c13-)"
for id in $(all_json | jq -r '.tasks[] | select(.state == "running") | .id'); do ctl root cancel "$id"; done
poll 300 bash -c "[[ -z \$(ls -d /sys/fs/cgroup/claudine.slice/claudine-task-*.scope 2>/dev/null) ]]"

head_ "event latency: a task's output after a stall -> task:active on an events --follow client (ms)"
(cd /root && exec claudinectl --json events --follow) 2>&1 | while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done > "$_TMP/follow" &
fpid=$!
ids=()
for i in $(seq 1 10); do
    ids+=("$(submit alice --stall-after 2s -- sh -c 'sleep 6; date +%s%3N; sleep 30')")
done
poll 120 bash -c "[[ \$(grep -c '\"type\":\"task:active\"' $_TMP/follow) -ge 10 ]]"
: > "$_TMP/evlat"
for id in "${ids[@]}"; do
    line=$(grep -F "\"task\":$id," "$_TMP/follow" | grep -F '"type":"task:active"' | head -1)
    [[ -n $line ]] && echo $(( ${line%% *} / 1000 - $(tail -1 "$STATE/logs/$id.out") )) >> "$_TMP/evlat"
done
fig "output -> task:active received" "$(stats < "$_TMP/evlat")"
for id in "${ids[@]}"; do ctl root cancel "$id"; done
pkill -f 'claudinectl --json events --follow'; kill "$fpid" 2>/dev/null

# ------------------------------------------------------------ submissions per second
head_ "submissions per second (max_running = 1, a blocker holds the queue)"
write_config 'max_running = 1'
restart_daemon || { echo "restart failed"; journalctl -u claudine -n 20 --no-pager; exit 1; }
blk=$(submit alice -- sleep 100000)
poll 30 is_state "$blk" running
t0=$(now_ms)
as alice bash -c 'for i in $(seq 1 "$1"); do claudinectl submit -- true >/dev/null || echo "submit failed" >&2; done' \
    sub "$N_SUBMIT"
t1=$(now_ms)
fig "$N_SUBMIT x claudinectl submit (sequential loop in one shell, as alice)" \
    "$((t1 - t0)) ms = $(awk -v n="$N_SUBMIT" -v ms=$((t1 - t0)) 'BEGIN{printf "%.1f/s, %.1f ms each", n*1000/ms, ms/n}')"
fig "claudined RSS with $(all_json | jq .queued) queued (kB)" "$(rss_kb)"

# ------------------------------------------------------------ 10k queued
head_ "$N_QUEUE queued tasks (raw HTTP POSTs over one Unix-socket connection per 1000)"
cat > "$_TMP/post.py" <<'EOF'
# POST the same submit body N times over keep-alive connections (one per chunk);
# print the time per chunk. python3-minimal only: raw socket HTTP/1.1.
import socket, sys, time
sock_path, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = b'{"argv":["true"],"cwd":"/tmp"}'
req = (b"POST /v1/tasks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
       b"Claudine-Protocol: 1\r\nContent-Length: %d\r\n\r\n" % len(body)) + body

def read_response(f):
    status = f.readline()
    if not status:
        raise EOFError("connection closed")
    code = int(status.split()[1])
    length, chunked = None, False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size = int(f.readline().split(b";")[0], 16)
            f.read(size + 2)
            if size == 0:
                break
    elif length:
        f.read(length)
    return code

done, errors = 0, 0
while done < n:
    m = min(chunk, n - done)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    f = s.makefile("rb")
    t0 = time.monotonic()
    for _ in range(m):
        s.sendall(req)
        if read_response(f) != 201:
            errors += 1
    dt = time.monotonic() - t0
    s.close()
    done += m
    print("chunk %5d-%5d  %7.0f ms  %6.2f ms/submit  errors %d" % (done - m + 1, done, dt * 1000, dt * 1000 / m, errors), flush=True)
EOF
rss0=$(rss_kb)
t0=$(now_ms)
python3 "$_TMP/post.py" "$SOCK" "$N_QUEUE" 1000 | tee -a "$OUTF" | sed 's/^/      /'
t1=$(now_ms)
fig "$N_QUEUE raw POSTs (root, one connection per 1000)" \
    "$((t1 - t0)) ms = $(awk -v n="$N_QUEUE" -v ms=$((t1 - t0)) 'BEGIN{printf "%.0f/s", n*1000/ms}')"
fig "queued now" "$(all_json | jq .queued)"
fig "claudined RSS before / after the $N_QUEUE (kB)" "$rss0 / $(rss_kb)"
fig "database size (bytes, incl. -wal)" "$(du -cb "$DB"* 2>/dev/null | tail -1 | cut -f1)"
for v in "list" "list --json" "list --all --json" "list --state queued --limit 50" "list --json --state running" "status $blk"; do
    : > "$_TMP/l"
    for i in 1 2 3 4 5; do
        # shellcheck disable=SC2086  # $v is several words on purpose
        t0=$(now_ms); ctl root $v; echo $(( $(now_ms) - t0 )) >> "$_TMP/l"
    done
    fig "claudinectl $v as root, $N_QUEUE+ queued (ms; ${#OUT} bytes out)" "$(stats < "$_TMP/l")"
done
fig "claudined RSS after the list calls (kB)" "$(rss_kb)"
t0=$(now_ms); ctl root submit -- true; t1=$(now_ms)
fig "one more claudinectl submit as root, $N_QUEUE+ queued (ms)" "$((t1 - t0))"

echo
echo "figures written to $OUTF"
exit 0
