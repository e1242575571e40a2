//! One run at a time in an output folder: [`FolderLock`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name in an output folder.
///
/// ```
/// assert_eq!(eloy_calib::LOCK_FILE, ".eloy.lock");
/// ```
pub const LOCK_FILE: &str = ".eloy.lock";

/// An output folder held by this process, so that two runs into one folder cannot race
/// (each would take the other's outputs in progress for its own): an exclusive lock
/// (`flock`, [`File::try_lock`]) on `OUT/.eloy.lock`, which holds the holder's process id,
/// host and start time for the runs that find it held.
///
/// The lock goes with the process: released when the `FolderLock` is dropped, and by the
/// system when the process ends, however it ends (`kill -9` included), so a lock is never
/// left stale. The file stays (removing it would let a third run lock a new file while a
/// second waits on the old one); its text is cleared on release.
///
/// ```
/// # fn main() -> Result<(), eloy_calib::Error> {
/// use eloy_calib::FolderLock;
/// let dir = tempfile::tempdir().unwrap();
/// let lock = FolderLock::try_lock(dir.path())?;
/// // A second holder (another run) is refused, and told who holds the folder.
/// let refused = FolderLock::try_lock(dir.path()).unwrap_err();
/// assert!(matches!(refused, eloy_calib::Error::Locked { .. }));
/// assert!(refused.to_string().contains(&format!("pid {}", std::process::id())));
/// drop(lock);
/// let _again = FolderLock::try_lock(dir.path())?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    path: PathBuf,
}

/// Who holds an output folder, as its lock file says.
///
/// ```
/// let holder = eloy_calib::LockHolder::parse("pid=42 host=observatory started=2026-01-05T20:00:00Z");
/// assert_eq!(holder.pid, Some(42));
/// assert_eq!(holder.to_string(), "pid 42 on observatory, started 2026-01-05T20:00:00Z");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockHolder {
    /// Its process id.
    pub pid: Option<u32>,
    /// Its host name.
    pub host: Option<String>,
    /// When it took the lock (UTC, ISO 8601).
    pub started: Option<String>,
}

impl LockHolder {
    /// This process, now.
    fn me() -> LockHolder {
        LockHolder {
            pid: Some(std::process::id()),
            host: Some(host_name()),
            started: Some(
                chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            ),
        }
    }

    /// The holder a lock file's text names (`pid=… host=… started=…`); fields it lacks are
    /// `None`.
    pub fn parse(text: &str) -> LockHolder {
        let mut holder = LockHolder::default();
        for word in text.split_whitespace() {
            match word.split_once('=') {
                Some(("pid", v)) => holder.pid = v.parse().ok(),
                Some(("host", v)) => holder.host = Some(v.to_owned()),
                Some(("started", v)) => holder.started = Some(v.to_owned()),
                _ => {}
            }
        }
        holder
    }

    fn text(&self) -> String {
        format!(
            "pid={} host={} started={}\n",
            self.pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            self.host.as_deref().unwrap_or("?"),
            self.started.as_deref().unwrap_or("?")
        )
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => write!(f, "an unknown process")?,
        }
        if let Some(host) = &self.host {
            write!(f, " on {host}")?;
        }
        if let Some(started) = &self.started {
            write!(f, ", started {started}")?;
        }
        Ok(())
    }
}

/// The host's name, where the system says it; else `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().replace(char::is_whitespace, "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

impl FolderLock {
    /// Takes the lock of the output folder `folder` (created if needed), or says who holds
    /// it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another run holds the folder;
    /// [`Error::Folder`] when the folder or its lock file cannot be created;
    /// [`Error::Lock`] when the filesystem cannot lock it.
    pub fn try_lock(folder: &Path) -> Result<FolderLock> {
        let (file, path) = open(folder)?;
        match file.try_lock() {
            Ok(()) => FolderLock::held(file, path),
            Err(TryLockError::WouldBlock) => Err(Error::Locked {
                holder: read_holder(&path).to_string(),
                path,
            }),
            Err(TryLockError::Error(source)) => Err(Error::Lock { path, source }),
        }
    }

    /// Takes the lock of the output folder `folder` (created if needed), waiting for the
    /// run that holds it to end; `on_wait` is called once, with the holder, before waiting.
    ///
    /// # Errors
    /// [`Error::Folder`] when the folder or its lock file cannot be created;
    /// [`Error::Lock`] when the filesystem cannot lock it.
    ///
    /// ```
    /// # fn main() -> Result<(), eloy_calib::Error> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut waited = false;
    /// let lock = eloy_calib::FolderLock::lock(dir.path(), |_| waited = true)?;
    /// assert!(!waited, "nobody held the folder");
    /// assert_eq!(lock.path(), dir.path().join(".eloy.lock"));
    /// # Ok(()) }
    /// ```
    pub fn lock(folder: &Path, on_wait: impl FnOnce(&LockHolder)) -> Result<FolderLock> {
        let (file, path) = open(folder)?;
        match file.try_lock() {
            Ok(()) => return FolderLock::held(file, path),
            Err(TryLockError::WouldBlock) => on_wait(&read_holder(&path)),
            Err(TryLockError::Error(source)) => return Err(Error::Lock { path, source }),
        }
        file.lock().map_err(|source| Error::Lock {
            path: path.clone(),
            source,
        })?;
        FolderLock::held(file, path)
    }

    /// Writes this process's name into the locked file.
    fn held(mut file: File, path: PathBuf) -> Result<FolderLock> {
        let text = LockHolder::me().text();
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()));
        written.map_err(|source| Error::Folder {
            path: path.clone(),
            source,
        })?;
        Ok(FolderLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Cleared while still held; the lock goes with the file.
        let _ = self.file.set_len(0);
    }
}

fn open(folder: &Path) -> Result<(File, PathBuf)> {
    let path = folder.join(LOCK_FILE);
    std::fs::create_dir_all(folder).map_err(|source| Error::Folder {
        path: folder.to_path_buf(),
        source,
    })?;
    // Not truncated: the text is the holder's until the lock is ours.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| Error::Folder {
            path: path.clone(),
            source,
        })?;
    Ok((file, path))
}

/// The holder named in the lock file (the fields it does not name are unknown).
fn read_holder(path: &Path) -> LockHolder {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    LockHolder::parse(&text)
}
