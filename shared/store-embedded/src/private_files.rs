//! The data directory holds payers' CPF/CNPJ (in the store) and the gateway's own keys: only
//! the user running the gateway may read it. The directory is `0700` and every file the
//! gateway keeps there `0600`, whatever the umask; a directory or file found with a looser
//! mode (from an older version, a copy, a `chmod`) is tightened when it is opened again.
//!
//! Only the directory itself and the files named by the caller are touched: `--data-dir` may
//! point at a directory that holds other things.

use std::fs;
use std::io;
use std::path::Path;

/// `rwx------`.
pub const DIR_MODE: u32 = 0o700;
/// `rw-------`.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) `0700`, or tightens it to `0700` if it exists.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    restrict(dir, DIR_MODE)
}

/// Creates `path` empty with mode `0600` if it does not exist (so it is never readable by
/// others, not even for a moment), or tightens it to `0600` if it does. The contents are left
/// as they are.
pub fn private_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Applies only when the file is created; `restrict` handles an existing one.
        options.mode(FILE_MODE);
    }
    drop(options.open(path)?);
    restrict(path, FILE_MODE)
}

/// Sets exactly `mode` on `path` when its permission bits differ.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::metadata(path)?.permissions().mode() & 0o777;
    if current != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Elsewhere the platform's own access control applies.
#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

// Two attributes, not `all(test, unix)`: clippy recognises test modules by a plain
// `#[cfg(test)]`, and only there lets them unwrap.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use tempfile::TempDir;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_dirs_and_files_are_private() {
        let root = TempDir::new().unwrap();
        let dir = root.path().join("a").join("data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        let file = dir.join("f");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), FILE_MODE);
        assert_eq!(fs::read(&file).unwrap(), b"");
    }

    #[test]
    fn loose_ones_are_tightened_and_keep_their_contents() {
        let root = TempDir::new().unwrap();
        let dir = root.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join("f");
        fs::write(&file, b"kept").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

        private_dir(&dir).unwrap();
        private_file(&file).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        assert_eq!(mode(&file), FILE_MODE);
        assert_eq!(fs::read(&file).unwrap(), b"kept");
    }
}
