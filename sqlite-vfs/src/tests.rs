use std::sync::Mutex;

use super::*;

/// The write counters are the process's: every test that writes through the VFS takes its turn,
/// so that those reading the counters see their own writes only.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

const FLAGS: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

/// A WAL database with a table of blobs, made through the default VFS.
fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER PRIMARY KEY, x BLOB NOT NULL);",
        )
        .unwrap();
    (dir, path)
}

fn row(n: i64) -> Vec<u8> {
    (0..1500)
        .map(|i| (n as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn insert(conn: &Connection, rows: std::ops::Range<i64>) {
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    for n in rows {
        conn.execute(
            "INSERT INTO t (n, x) VALUES (?1, ?2)",
            rusqlite::params![n, row(n)],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// Every row in `rows` as written, read through `conn`.
fn assert_rows(conn: &Connection, rows: std::ops::Range<i64>) {
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, rows.end - rows.start);
    let mut stmt = conn.prepare("SELECT x FROM t WHERE n = ?1").unwrap();
    for n in rows {
        let x: Vec<u8> = stmt.query_row([n], |r| r.get(0)).unwrap();
        assert_eq!(x, row(n), "row {n}");
    }
}

fn assert_whole(conn: &Connection) {
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_commit_reaches_the_os_as_one_write() {
    let _turn = turn();
    let (_dir, path) = database();
    let conn = open(&path, FLAGS).unwrap();
    // The first commit writes the WAL's header (and syncs it) before its frames.
    insert(&conn, 0..1);
    let before = write_counts();
    insert(&conn, 1..21);
    let after = write_counts();
    let asked = after.asked - before.asked;
    let made = after.made - before.made;
    // 20 rows of 1.5 KB fill 10 pages at least: two writes a frame (its header, its page).
    assert!(asked >= 20, "SQLite asked for {asked} writes");
    assert_eq!(made, 1, "{asked} writes asked, {made} made");
    assert_rows(&conn, 0..21);
}

#[test]
fn a_checkpoint_copies_runs_of_pages_in_few_writes() {
    let _turn = turn();
    let (_dir, path) = database();
    let conn = open(&path, FLAGS).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    for k in 0..10 {
        insert(&conn, k * 50..(k + 1) * 50);
    }
    let checkpointer = open(&path, FLAGS).unwrap();
    let before = write_counts();
    let (busy, log, copied): (i64, i64, i64) = checkpointer
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    let after = write_counts();
    assert_eq!((busy, log), (0, copied));
    let asked = after.asked - before.asked;
    let made = after.made - before.made;
    assert!(asked >= 250, "the checkpoint asked for {asked} writes");
    assert!(made * 10 <= asked, "{asked} writes asked, {made} made");
    // The database file alone now holds every row.
    drop((conn, checkpointer));
    let plain = Connection::open(&path).unwrap();
    plain
        .pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    assert_rows(&plain, 0..500);
    assert_whole(&plain);
}

/// Another connection (the default VFS, as the server's pool uses) sees each commit whole as
/// soon as it returns, also while checkpoints copy the WAL and the WAL starts over.
#[test]
fn other_connections_read_every_commit_at_once() {
    let _turn = turn();
    let (_dir, path) = database();
    let writer = open(&path, FLAGS).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    let checkpointer = open(&path, FLAGS).unwrap();
    let reader = Connection::open(&path).unwrap();
    let mut n = 0;
    for round in 0..40 {
        insert(&writer, n..n + 25);
        n += 25;
        assert_rows(&reader, 0..n);
        if round % 7 == 3 {
            checkpointer
                .execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                .unwrap();
        }
        if round % 13 == 12 {
            // Copies everything, so the next commit writes the WAL from its start.
            writer
                .execute_batch("PRAGMA wal_checkpoint(RESTART)")
                .unwrap();
        }
    }
    assert_whole(&reader);
}

/// Nothing committed waits for the connection to close: a connection that is never closed
/// (as in a crash) has already written all of it.
#[test]
fn a_commit_is_in_the_files_without_a_close() {
    let _turn = turn();
    let (_dir, path) = database();
    let writer = open(&path, FLAGS).unwrap();
    insert(&writer, 0..100);
    std::mem::forget(writer);
    let wal = std::fs::read(path.with_extension("db-wal")).unwrap();
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&path, copy.path().join("t.db")).unwrap();
    std::fs::write(copy.path().join("t.db-wal"), wal).unwrap();
    assert_rows(&Connection::open(copy.path().join("t.db")).unwrap(), 0..100);
}

#[test]
fn synchronous_below_full_is_refused() {
    let _turn = turn();
    let (_dir, path) = database();
    let conn = open(&path, FLAGS).unwrap();
    for lower in ["NORMAL", "off", "1", "0", "'normal'", "-1"] {
        let err = conn
            .execute_batch(&format!("PRAGMA main.synchronous = {lower}"))
            .unwrap_err();
        assert!(
            err.to_string().contains("needs synchronous=FULL"),
            "{lower}: {err}"
        );
    }
    conn.execute_batch("PRAGMA synchronous = EXTRA; PRAGMA synchronous = full")
        .unwrap();
    let level: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(level, 2);
}
