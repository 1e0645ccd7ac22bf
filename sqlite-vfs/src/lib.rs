//! A SQLite VFS that passes every call on to the default one (`unix`), except that the WAL
//! file's run of contiguous writes reaches the OS as one write, made just before the next call
//! on that file that is not a write.
//!
//! Why: SQLite writes each WAL frame as two `pwrite`s (its 24-byte header, then the page). On
//! this machine's ext4 a `pwrite` costs a few microseconds of kernel time whatever its size,
//! against a fraction of a microsecond per page when the same bytes arrive in one call
//! (bench/HISTORY.md, 2026-12-04). A commit of 30 decisions writes about 23 frames: 46 calls, or
//! one through here.
//!
//! Why it is sound: a held write must fail, if it fails, as the error of a call whose result
//! SQLite acts on, before SQLite relies on the bytes. On the WAL file SQLite makes only reads,
//! writes, syncs, size and truncate calls, and it relies on frames only after the commit's sync
//! (with `synchronous=FULL` or `EXTRA`, every commit syncs) or when it reads them back: each of
//! those calls writes the held run out first and fails with the write's error, so the commit
//! fails and nothing is published. Other connections learn of new frames only from the
//! shared-memory index, which SQLite updates after that sync. With `NORMAL` a commit would
//! publish frames still held here, so [`open`] sets `FULL` and the VFS refuses a
//! `PRAGMA synchronous` that lowers it.
//!
//! The database file's writes (a checkpoint's pages) are passed on at once: SQLite reports the
//! last page of a checkpoint as written by the file control that follows it
//! (`SQLITE_FCNTL_CKPT_DONE`), whose result it ignores, and it may record the checkpoint as
//! done without syncing that file. A page held there and lost to a full disk was once counted
//! as copied, and the next transaction started the WAL over its only copy.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use libsqlite3_sys as ffi;
use rusqlite::{Connection, OpenFlags};

const NAME: &CStr = c"riskloop-coalescing";

/// The most the unix VFS writes in one call: it masks a write's length to 17 bits (SQLite
/// itself never writes more than a WAL frame at a time), so a run goes to it in pieces of 31
/// pages.
const MAX_WRITE: usize = 31 * 4096;

/// A run is written out once it holds this much (about 1 MB): a transaction can write tens of
/// megabytes of frames.
const MAX_RUN: usize = 8 * MAX_WRITE;

/// The VFS every call is passed on to: SQLite's default when this one was registered.
static DEFAULT_VFS: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());
static WRITES_ASKED: AtomicU64 = AtomicU64::new(0);
static WRITES_MADE: AtomicU64 = AtomicU64::new(0);

/// Opens the existing database `path` through this VFS, with `synchronous=FULL`.
pub fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    register()?;
    let conn = Connection::open_with_flags_and_vfs(path, flags, NAME)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Writes SQLite asked for on the files whose writes are gathered (WAL files), and the writes
/// that reached the OS for them, since the process started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteCounts {
    pub asked: u64,
    pub made: u64,
}

pub fn write_counts() -> WriteCounts {
    WriteCounts {
        asked: WRITES_ASKED.load(Ordering::Relaxed),
        made: WRITES_MADE.load(Ordering::Relaxed),
    }
}

fn register() -> rusqlite::Result<()> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    let rc = *REGISTERED.get_or_init(register_once);
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some("cannot register riskloop's coalescing SQLite VFS".into()),
        ))
    }
}

fn register_once() -> c_int {
    // SAFETY: a null name asks for the default VFS; SQLite initialises itself first.
    let default = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if default.is_null() {
        return ffi::SQLITE_ERROR;
    }
    DEFAULT_VFS.store(default, Ordering::Release);
    // SAFETY: `default` points to a registered VFS, which SQLite never frees.
    let mut vfs = unsafe { ptr::read(default) };
    // The copy keeps the default VFS's functions and `pAppData`: besides `xOpen`, which is
    // replaced, unix's functions read nothing of the VFS they are called through but that.
    vfs.zName = NAME.as_ptr();
    vfs.pNext = ptr::null_mut();
    // The default VFS's file lives right after ours, in the one allocation SQLite makes.
    vfs.szOsFile += size_of::<File>() as c_int;
    vfs.xOpen = Some(x_open);
    let vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` is valid for the life of the process; 0: not the default.
    unsafe { ffi::sqlite3_vfs_register(vfs, 0) }
}

/// What SQLite allocates per open file (`szOsFile` bytes): this, then the default VFS's file.
#[repr(C)]
struct File {
    /// First, so that a `*mut sqlite3_file` SQLite holds is a `*mut File`.
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// Writes of the WAL file are gathered; others are passed on at once.
    gather: bool,
    /// Bytes not yet written, which belong at `run_start` in the file.
    run: Vec<u8>,
    run_start: i64,
}

impl File {
    fn inner_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `inner` was opened successfully and is open until `x_close`, so its methods
        // pointer is set and static.
        unsafe { &*(*self.inner).pMethods }
    }

    /// Writes the held run, if any, in pieces of at most [`MAX_WRITE`] bytes. A failed write
    /// drops the run; the call that asked for the flush fails with its error, so the commit
    /// that wrote those frames fails and nothing reads them (see the module's doc).
    fn flush(&mut self) -> c_int {
        if self.run.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = self.inner_methods().xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut offset = self.run_start;
        for piece in self.run.chunks(MAX_WRITE) {
            WRITES_MADE.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `inner` is open; `piece` is valid for its length, which fits a c_int.
            rc = unsafe {
                write(
                    self.inner,
                    piece.as_ptr().cast(),
                    piece.len() as c_int,
                    offset,
                )
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
            offset += piece.len() as i64;
        }
        self.run.clear();
        rc
    }
}

/// # Safety
/// `file` must be what SQLite passes to an io method of a file this VFS opened.
unsafe fn file<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
    // SAFETY: see the function's contract; SQLite calls one file's methods one at a time.
    unsafe { &mut *file.cast::<File>() }
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    out: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = DEFAULT_VFS.load(Ordering::Acquire);
    // SAFETY: SQLite gave `out` szOsFile bytes: our File, then room for the default VFS's.
    let inner = unsafe { out.cast::<u8>().add(size_of::<File>()) }.cast::<ffi::sqlite3_file>();
    // SAFETY: registration stored `default` before this VFS could be used; SQLite's own
    // arguments are passed on unchanged.
    let rc = unsafe {
        match (*default).xOpen {
            Some(open) => open(default, name, inner, flags, out_flags),
            None => ffi::SQLITE_CANTOPEN,
        }
    };
    // SQLite calls xClose when pMethods is set, even after a failed open; the default VFS's
    // file must then be closed through ours.
    // SAFETY: `inner` was written by the default VFS's xOpen (or left as SQLite zeroed it).
    let methods = unsafe { (*inner).pMethods };
    if methods.is_null() {
        // SAFETY: `out` is valid for writes of a sqlite3_file.
        unsafe { (*out).pMethods = ptr::null() };
        return rc;
    }
    // SAFETY: `methods` is the default VFS's static method table.
    let version = unsafe { (*methods).iVersion };
    let gather = flags & ffi::SQLITE_OPEN_WAL != 0;
    // SAFETY: `out` is valid for writes of a File (szOsFile); it is not initialised, so it is
    // written without reading or dropping what is there.
    unsafe {
        ptr::write(
            out.cast::<File>(),
            File {
                base: ffi::sqlite3_file {
                    pMethods: &METHODS[version.clamp(1, 3) as usize - 1],
                },
                inner,
                gather,
                run: Vec::new(),
                run_start: 0,
            },
        );
    }
    rc
}

/// One method table per version of the default VFS's: SQLite calls the shared-memory methods
/// (version 2) and the memory-map ones (version 3) only if the table's version has them.
static METHODS: [ffi::sqlite3_io_methods; 3] = [methods(1), methods(2), methods(3)];

const fn methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(x_close),
        xRead: Some(x_read),
        xWrite: Some(x_write),
        xTruncate: Some(x_truncate),
        xSync: Some(x_sync),
        xFileSize: Some(x_file_size),
        xLock: Some(x_lock),
        xUnlock: Some(x_unlock),
        xCheckReservedLock: Some(x_check_reserved_lock),
        xFileControl: Some(x_file_control),
        xSectorSize: Some(x_sector_size),
        xDeviceCharacteristics: Some(x_device_characteristics),
        xShmMap: Some(x_shm_map),
        xShmLock: Some(x_shm_lock),
        xShmBarrier: Some(x_shm_barrier),
        xShmUnmap: Some(x_shm_unmap),
        xFetch: Some(x_fetch),
        xUnfetch: Some(x_unfetch),
    }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file it opened through this VFS.
    let this = unsafe { file(f) };
    let flushed = this.flush();
    let closed = match this.inner_methods().xClose {
        // SAFETY: `inner` is open, and closed once, here.
        Some(close) => unsafe { close(this.inner) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: the File was written in x_open and is not used after xClose.
    unsafe { ptr::drop_in_place(f.cast::<File>()) };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this on a file opened through this VFS.
    let this = unsafe { file(f) };
    let len = amount.max(0) as usize;
    if !this.gather {
        return match this.inner_methods().xWrite {
            // SAFETY: SQLite's own arguments, passed on.
            Some(write) => unsafe { write(this.inner, data, amount, offset) },
            None => ffi::SQLITE_IOERR_WRITE,
        };
    }
    WRITES_ASKED.fetch_add(1, Ordering::Relaxed);
    let contiguous = this.run_start + this.run.len() as i64 == offset;
    if !this.run.is_empty() && (!contiguous || this.run.len() + len > MAX_RUN) {
        let rc = this.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if this.run.is_empty() {
        this.run_start = offset;
    }
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    this.run.extend_from_slice(bytes);
    ffi::SQLITE_OK
}

/// Defines an io method that writes out the held run, then passes the call on.
macro_rules! flush_then {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls this on a file opened through this VFS.
            let this = unsafe { file(f) };
            let rc = this.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match this.inner_methods().$method {
                // SAFETY: SQLite's own arguments, passed on to the file they were meant for.
                Some(method) => unsafe { method(this.inner, $($arg),*) },
                None => ffi::SQLITE_IOERR,
            }
        }
    };
}

/// Defines an io method that passes the call on: it neither reads nor changes the file's bytes.
macro_rules! pass_on {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            // SAFETY: SQLite calls this on a file opened through this VFS.
            let this = unsafe { file(f) };
            match this.inner_methods().$method {
                // SAFETY: SQLite's own arguments, passed on to the file they were meant for.
                Some(method) => unsafe { method(this.inner, $($arg),*) },
                None => $missing,
            }
        }
    };
}

flush_then!(x_read, xRead, (data: *mut c_void, amount: c_int, offset: i64));
flush_then!(x_truncate, xTruncate, (size: i64));
flush_then!(x_sync, xSync, (flags: c_int));
flush_then!(x_file_size, xFileSize, (size: *mut i64));
flush_then!(x_lock, xLock, (level: c_int));
flush_then!(x_unlock, xUnlock, (level: c_int));
flush_then!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int));
flush_then!(x_fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void));
pass_on!(x_sector_size, xSectorSize, (), c_int, 4096);
pass_on!(
    x_device_characteristics,
    xDeviceCharacteristics,
    (),
    c_int,
    0
);
pass_on!(x_shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), c_int, ffi::SQLITE_IOERR_SHMMAP);
pass_on!(x_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), c_int, ffi::SQLITE_IOERR_SHMLOCK);
pass_on!(x_shm_unmap, xShmUnmap, (delete: c_int), c_int, ffi::SQLITE_OK);
pass_on!(x_unfetch, xUnfetch, (offset: i64, page: *mut c_void), c_int, ffi::SQLITE_OK);

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls this on a file opened through this VFS.
    let this = unsafe { file(f) };
    if let Some(barrier) = this.inner_methods().xShmBarrier {
        // SAFETY: passed on to the file it was meant for.
        unsafe { barrier(this.inner) };
    }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_PRAGMA {
        // SAFETY: for SQLITE_FCNTL_PRAGMA, `arg` is SQLite's char*[3]: error out, name, value.
        let refused = unsafe { lowers_synchronous(arg.cast::<*mut c_char>()) };
        if refused {
            let message = c"riskloop's coalescing SQLite VFS needs synchronous=FULL or EXTRA: \
                every commit must sync before other connections can see it";
            // SAFETY: SQLite frees the message with sqlite3_free; "%s" formats it safely.
            unsafe {
                *arg.cast::<*mut c_char>() = ffi::sqlite3_mprintf(c"%s".as_ptr(), message.as_ptr());
            }
            return ffi::SQLITE_ERROR;
        }
    }
    // SAFETY: SQLite calls this on a file opened through this VFS.
    let this = unsafe { file(f) };
    let rc = this.flush();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match this.inner_methods().xFileControl {
        // SAFETY: SQLite's own arguments, passed on.
        Some(control) => unsafe { control(this.inner, op, arg) },
        None => ffi::SQLITE_NOTFOUND,
    }
}

/// Whether a pragma (SQLite's `[error, name, value]`) sets `synchronous` below FULL.
///
/// # Safety
/// `args` must point to three C string pointers, the last two null or NUL-terminated.
unsafe fn lowers_synchronous(args: *mut *mut c_char) -> bool {
    // SAFETY: see the function's contract.
    let (name, value) = unsafe { (*args.add(1), *args.add(2)) };
    if name.is_null() || value.is_null() {
        return false;
    }
    // SAFETY: non-null, NUL-terminated by the contract.
    let (name, value) = unsafe { (CStr::from_ptr(name), CStr::from_ptr(value)) };
    // A schema-qualified pragma reaches the VFS with the schema stripped from the name.
    if !name.to_bytes().eq_ignore_ascii_case(b"synchronous") {
        return false;
    }
    let value = value.to_bytes();
    !(value.eq_ignore_ascii_case(b"full")
        || value.eq_ignore_ascii_case(b"extra")
        || value == b"2"
        || value == b"3")
}

#[cfg(test)]
mod tests;
