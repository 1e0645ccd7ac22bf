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
    create(&path);
    (dir, path)
}

/// Creates the WAL database `path` with a table of blobs, through the default VFS.
fn create(path: &std::path::Path) {
    Connection::open(path)
        .unwrap()
        .execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER PRIMARY KEY, x BLOB NOT NULL);",
        )
        .unwrap();
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

/// A checkpoint's pages go to the database file at once, each as SQLite asked (see the crate's
/// doc for why they are not gathered), and the database file then holds every row.
#[test]
fn a_checkpoint_writes_its_pages_at_once() {
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
    assert!(copied >= 250, "the checkpoint copied {copied} frames");
    assert_eq!(after, before, "a checkpoint's writes were gathered");
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

/// A small tmpfs mounted for one test and unmounted when dropped: a real full disk. Mounting
/// needs root (CI runs as root); elsewhere [`Tmpfs::mount`] prints a notice and gives `None`.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but a tmpfs cannot be mounted: disk-full tests must run in CI (as root)"
            );
            println!("notice: cannot mount a tmpfs (not root?); skipping this disk-full test");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the filesystem until a write fails; returns the file that holds the space.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// A checkpoint that cannot write its pages into the database file (the disk is full) fails,
/// and loses nothing: once there is room again every committed row is there and the file is
/// whole. The pages a checkpoint copies used to be held and written out in the file control
/// SQLite sends after the last one (`SQLITE_FCNTL_CKPT_DONE`), whose result SQLite ignores: the
/// failed write was never reported, SQLite recorded the checkpoint as done, and the next
/// transaction started the WAL over the only copy of those pages.
#[test]
fn a_checkpoint_on_a_full_disk_fails_and_loses_nothing() {
    let _turn = turn();
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let path = fs.path().join("t.db");
    create(&path);
    let writer = open(&path, FLAGS).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // About 200 pages in the WAL, none yet in the database file, which must grow to take them.
    insert(&writer, 0..400);
    let filler = fs.fill();
    let checkpointer = open(&path, FLAGS).unwrap();
    let copied = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match copied {
        Err(err) => assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DiskFull),
            "{err}"
        ),
        Ok((busy, log, copied)) => {
            assert!(
                busy != 0 || copied < log,
                "a checkpoint reported copying every page onto a full disk: {log} frames, {copied} copied"
            )
        }
    }
    // A transaction after the failed checkpoint must not start the WAL over its pages.
    std::fs::remove_file(&filler).unwrap();
    insert(&writer, 400..401);
    drop((writer, checkpointer));
    let plain = Connection::open(&path).unwrap();
    plain
        .pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    assert_whole(&plain);
    assert_rows(&plain, 0..401);
}

/// A commit whose WAL frames cannot be written (the disk is full) fails at its sync, stores
/// nothing, and the connection writes again once there is room.
#[test]
fn a_commit_on_a_full_disk_fails_and_the_next_one_succeeds() {
    let _turn = turn();
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let path = fs.path().join("t.db");
    create(&path);
    let writer = open(&path, FLAGS).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    insert(&writer, 0..10);
    let filler = fs.fill();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut failed = None;
    for n in 10..400 {
        if let Err(err) = writer.execute(
            "INSERT INTO t (n, x) VALUES (?1, ?2)",
            rusqlite::params![n, row(n)],
        ) {
            failed = Some(err);
            break;
        }
    }
    let failed = failed.or_else(|| writer.execute_batch("COMMIT").err());
    let failed = failed.expect("a transaction of 600 KB committed onto a full disk");
    assert_eq!(
        failed.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull),
        "{failed}"
    );
    if !writer.is_autocommit() {
        writer.execute_batch("ROLLBACK").unwrap();
    }
    assert_rows(&writer, 0..10);
    std::fs::remove_file(&filler).unwrap();
    insert(&writer, 10..20);
    drop(writer);
    let plain = Connection::open(&path).unwrap();
    assert_whole(&plain);
    assert_rows(&plain, 0..20);
}
