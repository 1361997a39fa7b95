//! The exit record file: written atomically by the supervisor, read by the
//! daemon.
//!
//! Writing: a stale `<exit_path>.tmp` (left by a crash) is unlinked, whatever
//! it is; unlinking a symlink or a hard link removes that name only and never
//! touches what it points to. The temp file is then created afresh with
//! `O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK`, mode 0600 (set again with fchmod
//! whatever the umask), checked to be a regular file with a single link,
//! filled with the JSON, fsynced and renamed over `exit_path`; then the
//! directory is fsynced. The rename replaces whatever name `exit_path` was,
//! symlink included, without following it.
//!
//! The supervisor writes the record twice per attempt: when the attempt
//! starts (`finished_ms: None`) and when it ends.

use super::spec::ExitRecord;
use std::ffi::OsString;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Largest exit record the daemon accepts.
const MAX_RECORD: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ExitFileError {
    #[error("create exit record {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("exit record {} is not a regular file with a single link", path.display())]
    NotPlain { path: PathBuf },
    #[error("encode exit record {}: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write exit record {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("sync exit record {}: {source}", path.display())]
    Sync { path: PathBuf, source: io::Error },
    #[error("rename exit record {} to {}: {source}", from.display(), to.display())]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("sync exit record directory {}: {source}", path.display())]
    SyncDir { path: PathBuf, source: io::Error },
    #[error("open exit record {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("read exit record {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("exit record {} is larger than {MAX_RECORD} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("parse exit record {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl ExitFileError {
    /// True for a failure that may pass (no space, quota, I/O): worth
    /// retrying. A missing directory or a planted file is not.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            ExitFileError::Create { source, .. }
            | ExitFileError::Write { source, .. }
            | ExitFileError::Sync { source, .. }
            | ExitFileError::Rename { source, .. }
            | ExitFileError::SyncDir { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(
                libc::ENOSPC | libc::EDQUOT | libc::EIO | libc::EINTR | libc::EAGAIN | libc::ENOMEM
            )
        )
    }
}

/// Where the record of task `task_id` lives in `dir`: `dir/<id>.json`.
pub fn exit_record_path(dir: &Path, task_id: i64) -> PathBuf {
    dir.join(format!("{task_id}.json"))
}

/// The temporary name the record is written under: `<path>.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// Opens a file for writing or reading: never through a symlink in the last
/// component, never blocking on a FIFO.
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
}

/// Creates `path` anew, mode 0600: a stale file (or a symlink) of that name
/// is removed first, and the new one is never opened through a symlink.
pub fn create_private(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    no_follow(OpenOptions::new().write(true).create_new(true).mode(0o600)).open(path)
}

/// Writes `record` to `path` atomically (see the module docs).
pub fn write_exit_record(path: &Path, record: &ExitRecord) -> Result<(), ExitFileError> {
    let tmp = temp_path(path);
    let mut json = serde_json::to_vec(record).map_err(|source| ExitFileError::Encode {
        path: tmp.clone(),
        source,
    })?;
    json.push(b'\n');

    let create = |source| ExitFileError::Create {
        path: tmp.clone(),
        source,
    };
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(create(e)),
    }
    let mut file = no_follow(OpenOptions::new().write(true).create_new(true).mode(0o600))
        .open(&tmp)
        .map_err(create)?;
    let meta = file.metadata().map_err(create)?;
    if !meta.file_type().is_file() || meta.nlink() != 1 {
        return Err(ExitFileError::NotPlain { path: tmp });
    }
    let write = |source| ExitFileError::Write {
        path: tmp.clone(),
        source,
    };
    file.set_permissions(Permissions::from_mode(0o600))
        .map_err(write)?;
    file.write_all(&json).map_err(write)?;
    file.sync_all().map_err(|source| ExitFileError::Sync {
        path: tmp.clone(),
        source,
    })?;
    drop(file);

    std::fs::rename(&tmp, path).map_err(|source| ExitFileError::Rename {
        from: tmp.clone(),
        to: path.to_owned(),
        source,
    })?;

    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let sync_dir = |source| ExitFileError::SyncDir {
        path: dir.to_owned(),
        source,
    };
    let dir_file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(sync_dir)?;
    dir_file.sync_all().map_err(sync_dir)
}

/// Reads the exit record at `path`; `Ok(None)` if there is none (yet).
/// A symlink at `path` is an error, never followed.
pub fn read_exit_record(path: &Path) -> Result<Option<ExitRecord>, ExitFileError> {
    let file: File = match no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ExitFileError::Open {
                path: path.to_owned(),
                source,
            })
        }
    };
    let read = |source| ExitFileError::Read {
        path: path.to_owned(),
        source,
    };
    if !file.metadata().map_err(read)?.file_type().is_file() {
        return Err(ExitFileError::NotPlain {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_RECORD {
        return Err(ExitFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| ExitFileError::Parse {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::super::spec::{FinalUsage, OutputStats};
    use super::*;
    use std::os::unix::fs::symlink;

    fn record() -> ExitRecord {
        ExitRecord {
            task_id: 9,
            attempt: 2,
            started_ms: 1,
            pid: Some(123),
            exit_code: Some(0),
            signal: None,
            error: None,
            finished_ms: Some(2),
            usage: Some(FinalUsage {
                memory_peak: Some(4096),
                ..FinalUsage::default()
            }),
            output: Some(OutputStats {
                stdout_bytes: 10,
                ..OutputStats::default()
            }),
            claude: None,
            stopped: false,
        }
    }

    #[test]
    fn started_record_and_older_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = exit_record_path(dir.path(), 9);
        let started = ExitRecord {
            pid: None,
            exit_code: None,
            finished_ms: None,
            usage: None,
            output: None,
            ..record()
        };
        write_exit_record(&path, &started).unwrap();
        let read = read_exit_record(&path).unwrap().unwrap();
        assert!(!read.is_final());
        assert_eq!(read, started);
        write_exit_record(&path, &record()).unwrap();
        assert!(read_exit_record(&path).unwrap().unwrap().is_final());
        // A record written before attempts existed still reads.
        std::fs::write(
            &path,
            r#"{"task_id":9,"pid":5,"exit_code":0,"signal":null,"error":null,"finished_ms":3}"#,
        )
        .unwrap();
        let old = read_exit_record(&path).unwrap().unwrap();
        assert_eq!((old.attempt, old.started_ms, &old.usage), (0, 0, &None));
        assert!(old.is_final());
    }

    #[test]
    fn paths() {
        let p = exit_record_path(Path::new("/var/lib/claudine/exit"), 9);
        assert_eq!(p, Path::new("/var/lib/claudine/exit/9.json"));
        assert_eq!(
            temp_path(&p),
            Path::new("/var/lib/claudine/exit/9.json.tmp")
        );
    }

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = exit_record_path(dir.path(), 9);
        assert!(read_exit_record(&path).unwrap().is_none());
        // A stale temp file (longer, wider, someone else's) is replaced.
        std::fs::write(temp_path(&path), "stale stale stale stale stale").unwrap();
        std::fs::set_permissions(temp_path(&path), Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(temp_path(&path), Some(65534), Some(65534)).unwrap();
        write_exit_record(&path, &record()).unwrap();
        // A new file: ours, not the stale one's owner.
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
        assert_eq!(read_exit_record(&path).unwrap(), Some(record()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = exit_record_path(dir.path(), 9);
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        symlink(&target, &path).unwrap();
        let err = read_exit_record(&path).unwrap_err().to_string();
        assert!(err.starts_with("open exit record "), "{err}");
        // A hard link or a symlink in place of the temp file is unlinked,
        // never written through.
        std::fs::hard_link(&target, temp_path(&path)).unwrap();
        write_exit_record(&path, &record()).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(std::fs::metadata(&target).unwrap().nlink(), 1);
        symlink(&target, temp_path(&path)).unwrap();
        write_exit_record(&path, &record()).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(read_exit_record(&path).unwrap(), Some(record()));
        // A directory there cannot be unlinked: an error naming it.
        std::fs::create_dir(temp_path(&path)).unwrap();
        let err = write_exit_record(&path, &record()).unwrap_err().to_string();
        let expected = format!("create exit record {}: ", temp_path(&path).display());
        assert!(err.starts_with(&expected), "{err}");
    }

    #[test]
    fn garbage_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = exit_record_path(dir.path(), 9);
        std::fs::write(&path, "{").unwrap();
        let err = read_exit_record(&path).unwrap_err().to_string();
        assert!(err.contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn only_passing_failures_are_transient() {
        let io = |errno| std::io::Error::from_raw_os_error(errno);
        let p = PathBuf::from("/x");
        let write = |errno| ExitFileError::Write {
            path: p.clone(),
            source: io(errno),
        };
        assert!(write(libc::ENOSPC).is_transient());
        assert!(write(libc::EDQUOT).is_transient());
        assert!(!write(libc::ENOENT).is_transient());
        assert!(!ExitFileError::NotPlain { path: p.clone() }.is_transient());
    }
}
