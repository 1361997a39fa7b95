#!/usr/bin/env python3
"""alloc.py MIB [--rate MIB_PER_S] [--hold SECONDS] [--cpu SECONDS]

A memory-hungry test program for the VM benchmark (python3-minimal, stdlib
only). Allocates MIB mebibytes in 1 MiB chunks, at most --rate MiB per second
(default: as fast as it can), writing one byte in every 4 KiB page so the
memory is really resident (anonymous, not the shared zero page). Prints
"allocated N MiB" about every 10% and "holding", keeps the memory for --hold
seconds, then burns CPU for --cpu seconds (with the memory still held), and
exits 0.
"""
import argparse
import time

MIB = 1 << 20
PAGE = 4096
TOUCH = b"\x01" * (MIB // PAGE)


def say(msg):
    print(msg, flush=True)


def main():
    p = argparse.ArgumentParser(description="allocate, touch and hold memory")
    p.add_argument("mib", type=int, help="MiB to allocate")
    p.add_argument("--rate", type=float, default=0, help="MiB per second (0: as fast as possible)")
    p.add_argument("--hold", type=float, default=0, help="seconds to hold the memory")
    p.add_argument("--cpu", type=float, default=0, help="seconds of CPU to burn after that")
    a = p.parse_args()

    chunks = []
    step = max(1, a.mib // 10)
    t0 = time.monotonic()
    for i in range(1, a.mib + 1):
        c = bytearray(MIB)
        c[::PAGE] = TOUCH           # a byte written in every page: resident, whatever the allocator did
        chunks.append(c)
        if i % step == 0 or i == a.mib:
            say("allocated %d MiB" % i)
        if a.rate > 0:
            ahead = t0 + i / a.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    say("holding")
    time.sleep(a.hold)
    if a.cpu > 0:
        end = time.process_time() + a.cpu
        x = 0
        while time.process_time() < end:
            for _ in range(10000):
                x += 1
    say("done")


if __name__ == "__main__":
    main()
