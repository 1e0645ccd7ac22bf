#!/usr/bin/env python3
"""What SQLite's way of writing a WAL commit costs the kernel, against the same bytes in one write.

    python3 bench/wal_writes.py [DIR] [FRAMES] [COMMITS]    (default: target/, 24, 400)

A commit of FRAMES WAL frames (a 24-byte header and a 4 KiB page each) is written into a file that
already exists, as a WAL is after it starts over, then synced: once as SQLite's unix VFS writes
it (two `pwrite`s a frame), once as riskloop's coalescing VFS does (one `pwrite` for the run), each
way with and without the sync. It prints the thread's CPU time (user + system) per commit and per
frame, and the median time of the sync, over COMMITS commits, three rounds each way interleaved.
"""
import os
import resource
import statistics
import sys
import time

FRAME_HEADER, PAGE = 24, 4096


def cpu():
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


def run(path, frames, commits, one_write, sync):
    size = (FRAME_HEADER + PAGE) * frames
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        os.pwrite(fd, b"\0" * size * commits, 0)
        os.fsync(fd)
        header, page = b"h" * FRAME_HEADER, b"p" * PAGE
        whole = (header + page) * frames
        syncs, offset = [], 0
        started = cpu()
        for _ in range(commits):
            if one_write:
                os.pwrite(fd, whole, offset)
                offset += size
            else:
                for _ in range(frames):
                    os.pwrite(fd, header, offset)
                    os.pwrite(fd, page, offset + FRAME_HEADER)
                    offset += FRAME_HEADER + PAGE
            if sync:
                t = time.perf_counter()
                os.fsync(fd)
                syncs.append(time.perf_counter() - t)
        spent = cpu() - started
    finally:
        os.close(fd)
        os.unlink(path)
    return spent / commits, statistics.median(syncs) if syncs else None


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "target"
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    commits = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    path = os.path.join(directory, "wal_writes.probe")
    rows = {}
    for _ in range(3):
        for sync in (True, False):
            for one_write in (False, True):
                rows.setdefault((sync, one_write), []).append(run(path, frames, commits, one_write, sync))
    print(f"{frames} frames a commit, {commits} commits, three rounds (median of the three)")
    print("| writes | sync | CPU µs per commit | CPU µs per frame | sync p50 µs |")
    print("| --- | --- | --- | --- | --- |")
    for (sync, one_write), got in rows.items():
        per_commit = statistics.median(c for c, _ in got) * 1e6
        sync_p50 = f"{statistics.median(s for _, s in got) * 1e6:.0f}" if sync else "-"
        writes = "one for the commit" if one_write else "two a frame (SQLite's)"
        print(f"| {writes} | {'fsync' if sync else 'none'} | {per_commit:.0f} | {per_commit / frames:.2f} | {sync_p50} |")


if __name__ == "__main__":
    main()
