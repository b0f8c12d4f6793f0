//! How much room the disk under the data has: the server keeps a reserve free for the
//! database (pushes, logins, the audit log), refuses photo uploads that would eat into it, and
//! says so in `/readyz`.

use std::path::Path;

/// Bytes free for this process on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // SAFETY: statvfs writes the struct passed, and reads the NUL-terminated path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(u64::MAX)
    }
}

/// Whether the folder `dir` takes a write: a small file of a name of its own (several
/// processes and requests may probe at once) is written and removed.
pub fn takes_a_write(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(
        ".write-probe-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = std::fs::write(&probe, b"jingtu");
    let _ = std::fs::remove_file(&probe);
    written
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_folder_has_room_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::free_bytes(dir.path()).unwrap() > 0);
        assert!(super::free_bytes(&dir.path().join("missing")).is_err());
        super::takes_a_write(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe is gone"
        );
    }
}
