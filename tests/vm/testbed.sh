#!/bin/bash
# tests/vm/testbed.sh - run a script as root inside a throw-away Debian 12 VM whose
# PID 1 is a real systemd with a full cgroup v2 hierarchy, a system D-Bus and
# journald. claudine's VM test harness (tests/vm/run.sh and scripts/try-in-vm.sh
# use it); adapted from a measured recipe (image build ~65-70 s once, then
# ~16-20 s per boot under software emulation).
#
# Usage:
#   testbed.sh build                       # build (or reuse) the cached guest image only
#   testbed.sh run GUEST_SCRIPT [FILE...]  # boot, run GUEST_SCRIPT as root, power off
#   testbed.sh path                        # print the cached image dir (build if needed)
#
#   GUEST_SCRIPT runs from the service testbed-run.service, after multi-user.target
#   and after `systemctl is-system-running --wait` says running/degraded.
#   Its cwd is /mnt/testbed, a 9p share of a fresh host temp dir that also holds
#   copies of FILE... (files or directories; e.g. a .deb:
#   `apt-get install -y /mnt/testbed/claudine_*.deb`; the guest is bookworm, same
#   glibc 2.36 as a Debian 12 host, and has every dependency of the claudine .deb).
#   The guest script's stdout is streamed to the host's stdout while it runs, its
#   stderr is printed on the host's stderr at the end, and its exit code becomes
#   the exit code of testbed.sh.
#   Other exit codes: 124 = timeout, 125 = testbed failure (boot failed, no result).
#   Anything the guest script writes to $TESTBED_OUT (= /mnt/testbed/out) is copied
#   to the host dir $TESTBED_ARTIFACTS, if set (with the guest console log).
#
# Environment:
#   TESTBED_CACHE    image cache dir               (default /var/cache/claudine-testbed)
#   TESTBED_MIRROR   Debian mirror                 (default http://deb.debian.org/debian)
#   TESTBED_ACCEL    kvm | tcg | auto              (default auto: kvm only if /dev/kvm is
#                    writable AND is hardware KVM (vmx/svm in /proc/cpuinfo, no kvm_pvm
#                    module); else tcg = software emulation, ~16-20 s per boot)
#   TESTBED_MEM      guest RAM in MiB              (default 2048)
#   TESTBED_CPUS     guest vCPUs                   (default: host nproc, max 4)
#   TESTBED_TIMEOUT  seconds for boot + script     (default 900)
#   TESTBED_VERBOSE  1 = also print the guest serial console on stderr at the end
#   TESTBED_STREAM   0 = print the guest's stdout only at the end (default 1: live)
#   TESTBED_ARTIFACTS host dir that receives /mnt/testbed/out/* from the guest
#   TESTBED_CPU_MODEL qemu -cpu value (default: host for kvm, max for tcg)
#   TESTBED_APPEND   extra kernel command line arguments
#   TESTBED_REBOOTS  how many times the guest script may reboot the guest (default 0:
#                    qemu -no-reboot, a reboot ends the run). With N > 0 a reboot
#                    resets the guest inside the same qemu process, so the disk
#                    (snapshot=on: qemu's temporary overlay) is kept, and
#                    testbed-run runs the script again (TESTBED_BOOT=2, ...); a
#                    boot past N+1 powers off at once.
#
# Host packages (Debian 12): qemu-system-x86 mmdebstrap e2fsprogs
#   (scripts/setup-host.sh installs them; the build needs root: mmdebstrap
#   --mode=root; running needs only read access to the cache and /dev/kvm if used)
#
# The cached image is never modified: the root disk is attached with snapshot=on,
# so each run starts from the same pristine state and runs can go in parallel.
# The overlay lives as long as the qemu process: a guest reboot within a run
# (TESTBED_REBOOTS) keeps what the guest wrote to its disk.
set -euo pipefail

CACHE=${TESTBED_CACHE:-/var/cache/claudine-testbed}
MIRROR=${TESTBED_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# Packages on top of mmdebstrap's "apt" variant (Essential + apt).
# Base: a booting systemd guest. Then what the claudine .deb depends on (adduser,
# systemd, dbus; installed offline in the guest, so every Depends must be here)
# and what the guest tests use: passwd (useradd/usermod), sudo, curl (raw HTTP on
# the Unix socket), jq (JSON answers), python3-minimal (socket-level bench client),
# util-linux (runuser, setsid), procps (pgrep, ps).
PACKAGES="systemd,systemd-sysv,dbus,udev,kmod,procps,linux-image-amd64,initramfs-tools,zstd"
PACKAGES+=",adduser,passwd,init-system-helpers,util-linux,sudo,curl,jq,python3-minimal"
# keyutils: keyctl, for the per-task session keyring checks.
PACKAGES+=",keyutils"
# python3-prometheus-client: a real parser of the metrics endpoint's text.
PACKAGES+=",python3-prometheus-client"
# libpam-systemd: users' own systemd managers (lingering users), as on any
# Debian server; the containment checks try to escape through one.
PACKAGES+=",libpam-systemd"
# tmux: a real terminal for `claudinectl top` (capture-pane shows the frame,
# send-keys quits it).
PACKAGES+=",tmux"
# git: checkpoints' snapshots and --worktree (the package recommends it).
PACKAGES+=",git"
# Bump when the recipe below changes in a way the hash cannot see.
RECIPE_VERSION=1

log() { printf '[testbed %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 125; }

# ---------------------------------------------------------------- guest files
# Everything that goes into the image besides packages. Written to a staging
# dir and copied into the rootfs with mmdebstrap's sync-in hook.
write_overlay() {
    local o=$1
    mkdir -p "$o/etc/systemd/system" "$o/usr/local/sbin" "$o/etc/initramfs-tools/conf.d" \
             "$o/etc/systemd/journald.conf.d"
    echo testbed > "$o/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 testbed\n' > "$o/etc/hosts"
    # Root is the whole virtio disk, mounted rw by the kernel (no fsck needed).
    printf '/dev/vda / ext4 rw,errors=remount-ro 0 0\n' > "$o/etc/fstab"
    # Small initrd: only what is needed to mount /dev/vda (boots faster).
    printf 'MODULES=list\nCOMPRESS=zstd\n' > "$o/etc/initramfs-tools/conf.d/testbed.conf"
    # Persistent journal is pointless on a snapshot disk; keep it in /run.
    printf '[Journal]\nStorage=volatile\n' > "$o/etc/systemd/journald.conf.d/testbed.conf"

    # The runner: mounts the 9p share, waits for systemd to settle, runs the
    # script, stores stdout/stderr/exit code on the share, powers off.
    cat > "$o/usr/local/sbin/testbed-run" <<'EOF'
#!/bin/bash
# Runs inside the guest (testbed-run.service).
set -u
T=/mnt/testbed
mkdir -p $T
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 testbed $T; then
    echo "testbed-run: cannot mount 9p share" >/dev/console
    systemctl poweroff --no-block; exit 1
fi
# The boots of this run, counted on the share: a guest script may reboot the
# guest (the disk is kept) and then runs again, with TESTBED_BOOT=2, ...; the
# kernel command line's testbed.reboots=N (the host's TESTBED_REBOOTS) allows
# N reboots, one boot more is refused (no reboot loop).
boot=$(( $(cat $T/boots 2>/dev/null || echo 0) + 1 ))
echo $boot > $T/boots
allowed=$(sed -n 's/.*testbed\.reboots=\([0-9][0-9]*\).*/\1/p' /proc/cmdline)
if (( boot > ${allowed:-0} + 1 )); then
    echo "testbed-run: boot $boot of a run that allows ${allowed:-0} reboot(s): powering off" >/dev/console
    systemctl poweroff --force --force; exit 1
fi
# Wait until the boot transaction is done (our own unit is Type=exec, so this
# does not wait for us). "degraded" is accepted and reported.
state=$(timeout 120 systemctl is-system-running --wait 2>&1)
echo "$state" > $T/system-state
mkdir -p $T/out
cd $T
export HOME=/root TESTBED_OUT=$T/out TESTBED_BOOT=$boot PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# stdin from /dev/null so that nothing ever waits for a terminal. Appended:
# after a reboot the script's second run continues the same stdout.
bash $T/run.sh </dev/null >>$T/stdout 2>>$T/stderr
echo $? > $T/rc.tmp && mv $T/rc.tmp $T/rc
sync
# The root disk is a throw-away snapshot and results are already on the share:
# skip the orderly shutdown (saves ~4 s under TCG).
systemctl poweroff --force --force
EOF
    chmod 755 "$o/usr/local/sbin/testbed-run"

    cat > "$o/etc/systemd/system/testbed-run.service" <<'EOF'
[Unit]
Description=Run the testbed script from the host
After=multi-user.target
ConditionKernelCommandLine=testbed.run=1

[Service]
Type=exec
ExecStart=/usr/local/sbin/testbed-run
StandardOutput=journal+console
StandardError=journal+console
# If the runner dies or hangs, still power off (host also has a timeout) -
# unless the machine is already going down (an orderly reboot the script asked for).
ExecStopPost=-/bin/sh -c 'systemctl is-system-running | grep -qx stopping || systemctl poweroff --no-block'

[Install]
WantedBy=multi-user.target
EOF

    # Run inside the chroot at the end of mmdebstrap (proc/sys/dev are mounted).
    cat > "$o/usr/local/sbin/testbed-customize" <<'EOF'
#!/bin/sh
set -e
# MODULES=list: the initrd only needs virtio + ext4 to mount /dev/vda.
printf 'virtio_pci\nvirtio_blk\next4\ncrc32c_generic\ncrc32c-intel\n' > /etc/initramfs-tools/modules
update-initramfs -u -k all
passwd -d root                    # passwordless root on the serial console, for debugging
# Fixed machine id: no first-boot logic (systemd-firstboot prompts) on snapshot disks.
echo 5e1f0c1a0d1e4c6b9c0ffee000c1a0de > /etc/machine-id
systemctl enable testbed-run.service
systemctl mask systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
systemctl set-default multi-user.target
rm -rf /var/cache/apt/archives/*.deb
EOF
    chmod 755 "$o/usr/local/sbin/testbed-customize"
}

image_key() {
    { echo "$RECIPE_VERSION $SUITE $PACKAGES $MIRROR"; declare -f write_overlay; } \
        | sha256sum | cut -c1-16
}

# ---------------------------------------------------------------- build
build_image() {
    local key dir tmp t0
    key=$(image_key); dir=$CACHE/$key
    if [[ -s $dir/rootfs.img && -s $dir/vmlinuz && -s $dir/initrd.img ]]; then
        echo "$dir"; return 0
    fi
    [[ $EUID -eq 0 ]] || die "building the image needs root (mmdebstrap --mode=root)"
    command -v mmdebstrap >/dev/null || die "mmdebstrap not found: run scripts/setup-host.sh"
    command -v mke2fs >/dev/null || die "mke2fs not found: run scripts/setup-host.sh (e2fsprogs)"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"; flock 9          # one builder at a time
    if [[ -s $dir/rootfs.img ]]; then exec 9>&-; echo "$dir"; return 0; fi
    t0=$SECONDS
    tmp=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    write_overlay "$tmp/overlay"
    log "building image $key (mmdebstrap $SUITE)..."
    # path-exclude: no docs/man/locales and no big driver trees a VM never needs.
    mmdebstrap --mode=root --variant=apt --include="$PACKAGES" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/gpu/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/media/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/net/wireless/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/net/ethernet/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/infiniband/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/staging/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/drivers/bluetooth/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/net/bluetooth/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/net/wireless/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/net/mac80211/*' \
        --dpkgopt='path-exclude=/lib/modules/*/kernel/sound/*' \
        --dpkgopt='path-exclude=/usr/lib/firmware/*' \
        --customize-hook="sync-in $tmp/overlay /" \
        --customize-hook='chroot "$1" /usr/local/sbin/testbed-customize' \
        "$SUITE" "$tmp/root" \
        "deb $MIRROR $SUITE main" \
        "deb $MIRROR $SUITE-updates main" \
        "deb ${MIRROR%/debian}/debian-security $SUITE-security main" >&2 \
        || die "mmdebstrap failed"
    log "mmdebstrap done after $((SECONDS - t0))s"
    cp -L "$tmp/root/vmlinuz" "$tmp/vmlinuz"
    cp -L "$tmp/root/initrd.img" "$tmp/initrd.img"
    # ext4 image straight from the directory (no loop mount): size = used*1.25 + 1 GiB
    # of free space for the tests; the file is sparse.
    local mb; mb=$(du -sm "$tmp/root" | cut -f1)
    mke2fs -q -t ext4 -L testbed-root -d "$tmp/root" -F "$tmp/rootfs.img" "$((mb * 5 / 4 + 1024))M" \
        >&2 || die "mke2fs failed"
    rm -rf "$tmp/root" "$tmp/overlay"
    chmod 755 "$tmp"        # mktemp made it 0700; non-root users may run the image
    mv "$tmp" "$dir"
    trap - EXIT
    # Drop images of other recipes (dirs named by a 16-hex-digit key) unused
    # for a day: two branches with different recipes may share this cache
    # (run_guest touches the image dir it boots).
    find "$CACHE" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}' \
        ! -path "$dir" -mtime +0 -exec rm -rf {} +
    exec 9>&-
    log "image ready in $((SECONDS - t0))s: $dir ($(du -sh --apparent-size "$dir/rootfs.img" | cut -f1) apparent, $(du -sh "$dir/rootfs.img" | cut -f1) on disk)"
    echo "$dir"
}

# ---------------------------------------------------------------- run
run_guest() {
    local script=$1; shift
    [[ -f $script ]] || die "no such script: $script"
    local img accel cpu rc t0  # share is global: used by the EXIT trap
    command -v qemu-system-x86_64 >/dev/null \
        || die "qemu-system-x86_64 not found: run scripts/setup-host.sh (apt-get install qemu-system-x86)"
    img=$(build_image)
    touch "$img" 2>/dev/null || true     # in use (see the clean-up in build_image)
    accel=${TESTBED_ACCEL:-auto}
    if [[ $accel == auto ]]; then
        # Hardware KVM only: this Firecracker VM's /dev/kvm is "PVM" (kvm_pvm module,
        # no vmx/svm in /proc/cpuinfo), which only runs guests built with
        # CONFIG_PVM_GUEST; Debian's stock kernel hangs right after "Probing EDD".
        if [[ -w /dev/kvm ]] && grep -qw -E 'vmx|svm' /proc/cpuinfo && [[ ! -d /sys/module/kvm_pvm ]]; then
            accel=kvm
        else
            accel=tcg
        fi
    fi
    # (On the PVM /dev/kvm, plain "-cpu host" even aborts with "failed to set MSR
    # 0x10a"; "host,-arch-capabilities" gets past that but the guest still hangs.)
    if [[ $accel == kvm ]]; then cpu=host; else cpu=max; fi
    cpu=${TESTBED_CPU_MODEL:-$cpu}
    local ncpu=${TESTBED_CPUS:-$(nproc)}; ((ncpu > 4)) && ncpu=4

    share=$(mktemp -d "${TMPDIR:-/tmp}/testbed.XXXXXX")
    trap 'rm -rf "$share"' EXIT
    cp "$script" "$share/run.sh"
    local f; for f in "$@"; do cp -r "$f" "$share/"; done
    chmod -R a+rwX "$share"

    # No reboot allowed: a reboot (or a panic, panic=-1) ends qemu. Otherwise
    # the guest resets within this qemu process (the disk overlay is kept)
    # and testbed-run counts the boots against testbed.reboots.
    local reboots=${TESTBED_REBOOTS:-0} noreboot=-no-reboot
    [[ $reboots =~ ^[0-9]+$ ]] || die "TESTBED_REBOOTS must be a number"
    ((reboots > 0)) && noreboot=

    log "booting ($accel, ${ncpu} vCPU, ${TESTBED_MEM:-2048} MiB$( ((reboots > 0)) && echo ", up to $reboots reboot(s)"))..."
    t0=$(date +%s%N)
    # Stream the guest script's stdout (written over 9p as it runs) while the VM runs.
    local tail_pid=
    if [[ ${TESTBED_STREAM:-1} == 1 ]]; then
        : > "$share/stdout"; chmod a+rw "$share/stdout"
        tail -n +1 -F "$share/stdout" 2>/dev/null &
        tail_pid=$!
    fi
    set +e
    timeout -k 10 "${TESTBED_TIMEOUT:-900}" \
    qemu-system-x86_64 \
        -machine pc,accel=$accel -cpu $cpu -smp "$ncpu" -m "${TESTBED_MEM:-2048}" \
        -nodefaults -display none -monitor none $noreboot \
        -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet loglevel=3 systemd.unified_cgroup_hierarchy=1 systemd.show_status=error mitigations=off testbed.run=1 testbed.reboots=$reboots ${TESTBED_APPEND:-}" \
        -drive "file=$img/rootfs.img,format=raw,if=virtio,snapshot=on,cache=unsafe" \
        -virtfs "local,path=$share,mount_tag=testbed,security_model=none,id=testbed" \
        -device virtio-rng-pci \
        -serial "file:$share/console.log" \
        </dev/null >"$share/qemu.log" 2>&1
    rc=$?
    set -e
    if [[ -n $tail_pid ]]; then
        sleep 1.2       # tail -F polls once a second: let it print the last lines
        kill "$tail_pid" 2>/dev/null || true; wait "$tail_pid" 2>/dev/null || true
    fi
    log "guest exited after $(( ($(date +%s%N) - t0) / 1000000 )) ms (qemu rc=$rc, boots: $(cat "$share/boots" 2>/dev/null || echo 0), system state: $(cat "$share/system-state" 2>/dev/null || echo '?'))"

    [[ -z $tail_pid && -f $share/stdout ]] && cat "$share/stdout"
    [[ -f $share/stderr ]] && cat "$share/stderr" >&2
    if [[ -n ${TESTBED_ARTIFACTS:-} && -d $share/out ]]; then
        mkdir -p "$TESTBED_ARTIFACTS"; cp -r "$share/out/." "$TESTBED_ARTIFACTS/"
        cp "$share/console.log" "$TESTBED_ARTIFACTS/console.log" 2>/dev/null || true
    fi
    if [[ ${TESTBED_VERBOSE:-0} == 1 || ! -f $share/rc ]]; then
        log "---- qemu output ----"; cat "$share/qemu.log" >&2 || true
        log "---- guest console (tail) ----"; tail -n 60 "$share/console.log" >&2 || true
    fi
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then log "TIMEOUT"; return 124; fi
    [[ -f $share/rc ]] || die "guest produced no exit code (qemu rc=$rc)"
    return "$(cat "$share/rc")"
}

case ${1:-} in
    build) shift; build_image >/dev/null ;;
    path)  shift; build_image ;;
    run)   shift; [[ $# -ge 1 ]] || die "usage: $0 run GUEST_SCRIPT [FILE...]"; run_guest "$@" ;;
    *)     echo "usage: $0 build | path | run GUEST_SCRIPT [FILE...]" >&2; exit 2 ;;
esac
