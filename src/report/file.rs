//! Writing artifacts so that a crash, a full disk or a kill never leaves a truncated file
//! under the real name nor destroys the previous good one: the bytes go to a temporary
//! file in the same folder, are synced, and the file is renamed into place (atomic on
//! one filesystem); the folder is synced so the rename itself survives a power cut.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path`, replacing a file that is there, atomically.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = filled_temp(path, bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    sync_dir(path);
    Ok(())
}

/// Writes `bytes` to `dir/<stem>.<ext>`, or `<stem>-2.<ext>`, `-3`, … when the name is
/// taken (never replacing a file); creates `dir`. Returns the path written.
pub fn write_new(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let first = dir.join(format!("{stem}.{ext}"));
    let mut temp = filled_temp(&first, bytes)?;
    for attempt in 1..1000 {
        let path = match attempt {
            1 => first.clone(),
            n => dir.join(format!("{stem}-{n}.{ext}")),
        };
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                sync_dir(&path);
                return Ok(path);
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => temp = e.file,
            Err(e) => return Err(e.error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{} and 998 numbered variants exist", first.display()),
    ))
}

/// A synced temporary file next to `path` holding `bytes`; removed if dropped.
fn filled_temp(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Artifacts are for sharing: the mode a plain create gives (0666 less the umask),
    // not the temporary file's private 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

/// Best effort: makes a rename in `path`'s folder durable.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_keeps_no_temporary_and_a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_replacing(&path, b"first").unwrap();
        write_replacing(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary left behind");
        // A folder that does not exist: an error, not a panic.
        let e = write_replacing(&dir.path().join("missing/out.json"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn artifacts_get_the_mode_of_a_plain_create() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let replaced = dir.path().join("replaced.html");
        write_replacing(&replaced, b"x").unwrap();
        let new = write_new(dir.path(), "r", "json", b"1").unwrap();
        assert_eq!(mode(&replaced), mode(&plain));
        assert_eq!(mode(&new), mode(&plain));
    }

    #[test]
    fn new_files_get_numbered_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_new(dir.path(), "r", "json", b"1").unwrap();
        let b = write_new(dir.path(), "r", "json", b"2").unwrap();
        assert_eq!(a.file_name().unwrap(), "r.json");
        assert_eq!(b.file_name().unwrap(), "r-2.json");
        assert_eq!(std::fs::read(a).unwrap(), b"1");
        assert_eq!(std::fs::read(b).unwrap(), b"2");
    }
}
