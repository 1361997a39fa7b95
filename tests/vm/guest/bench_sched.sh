# tests/vm/guest/bench_sched.sh - the scheduling comparison of the benchmark:
# one mixed workload run by claudine at zero configuration and by pueue at
# fixed parallelism 2, 4, 8, 16, in the same guest, one table. Sourced by
# bench.sh (uses its fig/head_/OUTF and lib.sh's helpers); bench_sched runs it.
#
# The workload, the same for every run, in this order: waves of
#   6 memory-heavy tasks  alloc.py HOG --rate 50 --hold 6  (HOG = MemTotal / 6,
#                         ~990 MiB in the bench's 6 GiB guest, grown over ~20 s:
#                         4 at once fit (MemAvailable ~1.5 GiB), 6 cannot:
#                         parallelism 8 or 16 runs a whole wave's hogs at once
#                         and gets OOM kills)
#   4 CPU-bound tasks     alloc.py 16 --cpu 3               (3 s of CPU each)
#   5 sleepers            sleep 8
# BENCH_SCHED_WAVES waves (default 3: 45 tasks; a process start costs ~1.3 s of
# CPU for python3 under emulation, so 60 tasks would not fit in the section's
# budget of ~15 min). Each run: all tasks submitted at once by one user,
# then measured from the first submit to the last task's end:
#   makespan, peak memory used (MemTotal - min MemAvailable, sampled every 200 ms),
#   OOM kills (oom_kill of /proc/vmstat), tasks not succeeded, and the time
#   MemAvailable spent under 1 GiB (the host reserve).
# The harness is shielded from the OOM killer (oom_score_adj -900); the tasks of
# both queues keep the default 0, so the kernel picks the biggest hogs. pueued
# runs as a transient service with OOMPolicy=continue: an OOM kill among its tasks
# must not stop it (nor the harness's own unit, where the default policy would).
# Raw samples and answers go to $TESTBED_OUT/sched/.
# shellcheck shell=bash

SCHED_USER=alice
SCHED_WAVES=${BENCH_SCHED_WAVES:-3}
SCHED_PARALLEL=${BENCH_SCHED_PARALLEL:-2 4 8 16}
SCHED_TIMEOUT=${BENCH_SCHED_TIMEOUT:-480}      # seconds per run, then what is left is cancelled
SCHED_RESERVE_MIB=1024
SCHED_DIR=/tmp/sched                           # readable by the user (workload, helper)
SCHED_OUT=${TESTBED_OUT:-/tmp}/sched

# The helper: memory sampler, its analysis, and the task ends of either queue.
sched_helper() {
    cat > "$SCHED_DIR/sched.py" <<'EOF'
import datetime, json, re, sys, time

def sample(path):
    """Every 200 ms: 'epoch_ms MemAvailable_kB', one line each, until killed."""
    with open(path, "w", buffering=1) as out:
        while True:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        out.write("%d %s\n" % (time.time_ns() // 1000000, line.split()[1]))
                        break
            time.sleep(0.2)

def mem(path, t0, t1, reserve_mib):
    """Samples within [t0, t1]: 'min_avail_MiB seconds_under_reserve'."""
    pts = [tuple(map(int, l.split())) for l in open(path) if len(l.split()) == 2]
    pts = [p for p in pts if int(t0) <= p[0] <= int(t1)]
    if not pts:
        print("- -"); return
    under = sum(b[0] - a[0] for a, b in zip(pts, pts[1:]) if a[1] < int(reserve_mib) * 1024)
    print("%d %.1f" % (min(kb for _, kb in pts) // 1024, under / 1000))

def iso_ms(s):
    s = re.sub(r"(\.\d{6})\d+", r"\1", s).replace("Z", "+00:00")
    return int(datetime.datetime.fromisoformat(s).timestamp() * 1000)

def ends(kind, ids_path=None):
    """Queue's JSON on stdin: 'last_end_ms succeeded total'."""
    data = json.load(sys.stdin)
    out = []   # (end_ms or None, succeeded)
    if kind == "claudine":
        ids = {int(l) for l in open(ids_path) if l.strip()}
        for t in data["tasks"]:
            if t["id"] in ids:
                out.append((t.get("finished_ms"), t["state"] == "succeeded"))
    else:
        for t in data["tasks"].values():
            done = t["status"].get("Done") if isinstance(t["status"], dict) else None
            out.append((iso_ms(done["end"]), done["result"] == "Success") if done else (None, False))
    last = max((e for e, _ in out if e), default=0)
    print(last, sum(1 for _, ok in out if ok), len(out))

{"sample": sample, "mem": mem, "ends": ends}[sys.argv[1]](*sys.argv[2:])
EOF
}

# The workload, one command per line (split into words by the submitting shell).
sched_workload() {
    local w i hog=$(( $(awk '/^MemTotal:/{print int($2 / 1024)}' /proc/meminfo) / 6 ))
    for w in $(seq 1 "$SCHED_WAVES"); do
        for i in 1 2 3 4 5 6; do echo "python3 /usr/local/bin/alloc.py $hog --rate 50 --hold 6"; done
        for i in 1 2 3 4; do echo "python3 /usr/local/bin/alloc.py 16 --cpu 3"; done
        for i in 1 2 3 4 5; do echo "sleep 8"; done
    done
}

oom_kills() { awk '$1 == "oom_kill" {print $2}' /proc/vmstat; }

# as_t USER TIMEOUT CMD...: `as` with a time limit.
as_t() { (cd "$(home_of "$1")" && timeout "$2" runuser -u "$1" -- "${@:3}"); }

# Set by sched_begin/sched_end for one run.
S_T0=0 S_OOM0=0 S_SAMPLER=

sched_begin() {
    python3 "$SCHED_DIR/sched.py" sample "$SCHED_OUT/mem.$1" &
    S_SAMPLER=$!
    sleep 1                         # the sampler's first lines: the state before
    S_OOM0=$(oom_kills)
    S_T0=$(now_ms)
}

# sched_end NAME LAST_END_MS SUCCEEDED TOTAL: prints the run's table row.
sched_end() {
    local name=$1 last=$2 ok=$3 total=$4 oom min under span peak=-
    oom=$(( $(oom_kills) - S_OOM0 ))
    kill "$S_SAMPLER" 2>/dev/null; wait "$S_SAMPLER" 2>/dev/null
    ((last > S_T0)) || last=$(now_ms)
    read -r min under < <(python3 "$SCHED_DIR/sched.py" mem "$SCHED_OUT/mem.$name" "$S_T0" "$last" "$SCHED_RESERVE_MIB")
    [[ $min == - ]] || peak=$((SCHED_TOTAL_MIB - min))
    span=$(awk -v a="$S_T0" -v b="$last" 'BEGIN{printf "%.1f", (b - a) / 1000}')
    echo "$name $span $((total - ok))" >> "$SCHED_DIR/spans"
    printf '| %-12s | %10s | %9s | %17s | %9s | %12s | %15s |\n' "$name" "$span" "$peak" "$min" "$oom" \
        "$((total - ok)) of $total" "$under" | tee -a "$OUTF"
}

sched_claudine() {
    local ids=$SCHED_DIR/ids.claudine
    sched_begin claudine
    as "$SCHED_USER" bash -c 'while read -r -a cmd; do
        claudinectl submit -- "${cmd[@]}" || echo "submit failed: ${cmd[*]}" >&2; done < "$1"' \
        sub "$SCHED_DIR/workload" > "$ids"
    # shellcheck disable=SC2046  # one id per word
    if ! as_t "$SCHED_USER" "$SCHED_TIMEOUT" bash -c 'for id in "$@"; do claudinectl wait "$id" >/dev/null; done; true' \
        w $(cat "$ids"); then
        note "claudine: not done within ${SCHED_TIMEOUT}s, the rest is cancelled"
        while read -r id; do is_terminal "$id" || ctl root cancel "$id"; done < "$ids"
    fi
    all_json > "$SCHED_OUT/claudine.json"
    # shellcheck disable=SC2046  # three numbers
    sched_end claudine $(python3 "$SCHED_DIR/sched.py" ends claudine "$ids" < "$SCHED_OUT/claudine.json")
}

pueue_() { as "$SCHED_USER" /usr/local/bin/pueue "$@"; }

sched_pueue() {
    local n=$1 unit=bench-pueued-$1 home; home=$(home_of "$SCHED_USER")
    rm -rf "$home/.local/share/pueue"          # a fresh state: nothing from the last run
    systemd-run -q --unit="$unit" --uid="$SCHED_USER" -p OOMPolicy=continue \
        -p WorkingDirectory="$home" /usr/local/bin/pueued \
        || { note "pueued: cannot start"; return 1; }
    poll 30 pueue_ status || { note "pueued not answering"; journalctl -u "$unit" -n 10 --no-pager; return 1; }
    pueue_ parallel "$n" >/dev/null
    sched_begin "pueue-$n"
    as "$SCHED_USER" bash -c 'while read -r -a cmd; do
        /usr/local/bin/pueue add -- "${cmd[@]}" >/dev/null || echo "add failed: ${cmd[*]}" >&2; done < "$1"' \
        add "$SCHED_DIR/workload"
    as_t "$SCHED_USER" "$SCHED_TIMEOUT" /usr/local/bin/pueue wait >/dev/null \
        || note "pueue $n: not done within ${SCHED_TIMEOUT}s, the rest is killed"
    pueue_ status --json > "$SCHED_OUT/pueue-$n.json"
    systemctl stop "$unit"; systemctl reset-failed "$unit" 2>/dev/null
    # shellcheck disable=SC2046  # three numbers
    sched_end "pueue-$n" $(python3 "$SCHED_DIR/sched.py" ends pueue < "$SCHED_OUT/pueue-$n.json")
}

bench_sched() {
    local t0=$SECONDS n name span lost best= best_span= c_span ntasks
    rm -rf "$SCHED_DIR"; mkdir -m 755 "$SCHED_DIR"; mkdir -p "$SCHED_OUT"
    install -m 755 alloc.py /usr/local/bin/alloc.py
    install -m 755 pueue pueued /usr/local/bin/ || { echo "no pueue binaries in /mnt/testbed"; return 1; }
    sched_helper
    sched_workload > "$SCHED_DIR/workload"
    ntasks=$(wc -l < "$SCHED_DIR/workload")
    : > "$SCHED_DIR/spans"
    SCHED_TOTAL_MIB=$(awk '/^MemTotal:/{print int($2 / 1024)}' /proc/meminfo)
    # Shield the harness (this shell, the runner above it, the sampler it
    # starts): the OOM killer must pick tasks, never the bench.
    echo -900 > /proc/$$/oom_score_adj; echo -900 > /proc/$PPID/oom_score_adj

    head_ "scheduling: claudine (zero configuration) vs pueue $(/usr/local/bin/pueue --version | cut -d' ' -f2) at fixed parallelism"
    fig "workload: $ntasks tasks, $SCHED_WAVES wave(s) of 6 + 4 + 5, as one user" \
        "$(uniq -c "$SCHED_DIR/workload" | head -3 | awk '{$1 = $1 "x"; print}' | paste -sd ';' | sed 's/;/; /g')"
    ((ntasks < 60)) && fig "NOTE: fewer tasks than the planned 60 (20 per class)" \
        "to fit the budget under emulation (BENCH_SCHED_WAVES=4: 60)"
    fig "MemTotal / MemAvailable now (MiB)" "$SCHED_TOTAL_MIB / $(awk '/^MemAvailable:/{print int($2 / 1024)}' /proc/meminfo)"
    as "$SCHED_USER" python3 /usr/local/bin/alloc.py 1 >/dev/null     # warm the page cache
    { echo
      printf '| %-12s | %10s | %9s | %17s | %9s | %12s | %15s |\n' run "makespan s" "peak used" \
        "min MemAvailable" "OOM kills" "not succeeded" "s under 1 GiB"
      echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"; } | tee -a "$OUTF"
    sched_claudine
    for n in $SCHED_PARALLEL; do sched_pueue "$n"; done
    echo | tee -a "$OUTF"
    echo "(peak used and min MemAvailable in MiB; makespan: first submit to last end)" | tee -a "$OUTF"

    # The best fixed setting: the shortest makespan among the pueue runs that lost no task.
    while read -r name span lost; do
        [[ $name == pueue-* && $lost == 0 ]] || continue
        if [[ -z $best ]] || awk -v a="$span" -v b="$best_span" 'BEGIN{exit !(a < b)}'; then
            best=${name#pueue-} best_span=$span
        fi
    done < "$SCHED_DIR/spans"
    c_span=$(awk '$1 == "claudine" {print $2}' "$SCHED_DIR/spans")
    if [[ -n $best ]]; then
        fig "best fixed setting with every task succeeded: pueue parallel $best" \
            "makespan $best_span s; claudine $c_span s = $(awk -v a="$c_span" -v b="$best_span" 'BEGIN{printf "%.2f", a / b}') x that"
    else
        fig "best fixed setting" "none of the pueue runs succeeded in every task"
    fi
    journalctl -k -q --no-pager | grep -E 'Out of memory|oom-kill' > "$SCHED_OUT/oom.txt"
    fig "scheduling section wall time (s)" "$((SECONDS - t0))"
}
