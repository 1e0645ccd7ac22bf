"""Which b-trees' pages SQLite's WAL holds, per commit: what each decision costs in pages written.

    python3 bench/wal_pages.py riskloop-data/riskloop.db

Run it on a server's database after sending fewer than 4,096 decisions to a fresh one (the writer
starts the WAL over after that many, see `serve/src/writer/sqlite_sink.rs`), so that the WAL
still holds every commit. It reads a copy of the database and its WAL, so the server may keep
running. Each frame of the WAL is one page written by one commit; the page's owner comes from
SQLite's `dbstat` table.
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile

source = sys.argv[1]
tmp = tempfile.mkdtemp()
try:
    db = os.path.join(tmp, "copy.db")
    shutil.copy(source, db)
    shutil.copy(source + "-wal", db + "-wal")
    wal = open(db + "-wal", "rb").read()
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", wal[:32])
    commits, frames, offset = [], [], 32
    while offset + 24 + page_size <= len(wal):
        page, size_after_commit, s1, s2 = struct.unpack(">4I", wal[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):  # frames left over from before the WAL started over
            break
        frames.append(page)
        if size_after_commit:
            commits.append(frames)
            frames = []
        offset += 24 + page_size
    con = sqlite3.connect(db)
    owner = {page: f"{name} ({kind})" for name, page, kind in
             con.execute("SELECT name, pageno, pagetype FROM dbstat")}
    decisions = con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    con.close()
    pages = collections.Counter(owner.get(p, "free or other") for c in commits for p in c)
    total = sum(pages.values())
    print(f"{len(commits)} commits, {total} pages of {page_size} bytes; "
          f"{decisions} decisions in the database, {total / max(decisions, 1):.3f} pages each")
    print("| b-tree (page kind) | pages | per commit | share |")
    print("| --- | --- | --- | --- |")
    for name, n in pages.most_common():
        print(f"| {name} | {n} | {n / max(len(commits), 1):.2f} | {100 * n / total:.1f} % |")
finally:
    shutil.rmtree(tmp)
