//! `--secret-file`: the secret on disk, mode 0600, replaced atomically, never through a symlink.
//!
//! The temporary file is made (exclusively, 0600) before anything is sent to Azure, so a
//! directory we cannot write to is found before a secret exists that would then be lost.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::secret::read_secret_file;
use common::{Error, Result, Secret};

/// The pseudo-field errors about `--secret-file` name.
pub(crate) const FIELD: &str = "secret_file";

/// A secret file about to be written: its temporary sibling is already open.
#[derive(Debug)]
pub(crate) struct Pending {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

/// Refuses a target that is a symlink or not a regular file; `Ok(true)` when it exists.
fn check_target(target: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::input(
            FIELD,
            format!(
                "--secret-file {} is a symbolic link: refusing to write a secret through it; give the real path",
                target.display()
            ),
        )),
        Ok(m) if !m.is_file() => Err(Error::input(
            FIELD,
            format!(
                "--secret-file {} exists and is not a regular file",
                target.display()
            ),
        )),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(
            &format!("cannot check --secret-file {}", target.display()),
            &e,
        )),
    }
}

/// Reads the secret a previous run wrote to `target`, if the file exists and is not empty.
///
/// Read as any secret file is ([`common::secret::read_secret_file`]): a regular file of at
/// most 4 KiB, read within `timeout` (what is left of `--timeout`), so a FIFO or a device
/// put in its place can neither hang the run nor fill its memory.
pub(crate) fn read_existing(target: &Path, timeout: Duration) -> Result<Option<Secret>> {
    if !check_target(target)? {
        return Ok(None);
    }
    // An empty file holds no secret yet (a run that stopped before writing one).
    if std::fs::metadata(target).is_ok_and(|m| m.len() == 0) {
        return Ok(None);
    }
    read_secret_file(target, "--secret-file", FIELD, timeout).map(Some)
}

impl Pending {
    /// Checks `target` and opens a new 0600 temporary file beside it.
    pub(crate) fn prepare(target: &Path) -> Result<Self> {
        check_target(target)?;
        let name = target.file_name().ok_or_else(|| {
            Error::input(
                FIELD,
                format!("--secret-file {} does not name a file", target.display()),
            )
        })?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| {
                Error::io(
                    &format!(
                        "cannot create a file in {} for --secret-file",
                        dir.display()
                    ),
                    &e,
                )
            })?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The target path.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `secret` and moves it into place; skipped when the file already holds it with mode 0600.
    pub(crate) fn commit(mut self, secret: &Secret) -> Result<bool> {
        let wanted = format!("{}\n", secret.expose());
        if check_target(&self.target)? {
            let same = std::fs::read_to_string(&self.target).is_ok_and(|t| t == wanted);
            let private = std::fs::metadata(&self.target)
                .is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600);
            if same && private {
                return Ok(false);
            }
        }
        let what = format!("cannot write --secret-file {}", self.target.display());
        let mut file = self.file.take().expect("a pending file is committed once");
        file.write_all(wanted.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&what, &e))?;
        drop(file);
        // The check just above makes a symlink put in place meanwhile the only way through; rename replaces
        // the link itself, never its target.
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&what, &e))?;
        Ok(true)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Not committed (or already renamed, when this fails harmlessly).
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_0600_atomically_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret");
        std::fs::write(&target, "old\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();

        let p = Pending::prepare(&target).unwrap();
        assert_eq!(
            entries(dir.path()).len(),
            2,
            "the temporary file exists before the commit"
        );
        assert!(p.commit(&Secret::new("s3cret")).unwrap());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "s3cret\n");
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(entries(dir.path()), ["secret"]);
        assert_eq!(
            read_existing(&target, T).unwrap().unwrap().expose(),
            "s3cret"
        );

        // Same content and mode: nothing rewritten, nothing left behind.
        assert!(
            !Pending::prepare(&target)
                .unwrap()
                .commit(&Secret::new("s3cret"))
                .unwrap()
        );
        assert_eq!(entries(dir.path()), ["secret"]);

        // Dropped without commit: the temporary file goes away.
        drop(Pending::prepare(&dir.path().join("other")).unwrap());
        assert_eq!(entries(dir.path()), ["secret"]);
        assert!(
            read_existing(&dir.path().join("other"), T)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refuses_symlinks_directories_and_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = Pending::prepare(&link).unwrap_err();
        assert!(e.message().contains("symbolic link"), "{e}");
        assert!(read_existing(&link, T).is_err());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "x");

        assert!(Pending::prepare(dir.path()).is_err());
        let e = Pending::prepare(&dir.path().join("no/such/dir/file")).unwrap_err();
        assert_eq!(e.code(), "IoError");
    }

    /// An existing file is read as a secret file is: bounded in size (a FIFO or device is
    /// refused by `check_target`); an empty one holds no secret yet.
    #[test]
    fn an_existing_file_is_read_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, "x".repeat(5000)).unwrap();
        let e = read_existing(&big, T).unwrap_err();
        assert_eq!(
            e.kind(),
            &common::ErrorKind::Input {
                field: FIELD.into()
            }
        );
        assert!(e.message().contains("at most 4096"), "{e}");
        assert!(
            !e.message().contains(&*big.to_string_lossy()),
            "never the path: {e}"
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert!(read_existing(&empty, T).unwrap().is_none());

        let crlf = dir.path().join("crlf");
        std::fs::write(&crlf, "s3cret\r\n").unwrap();
        assert_eq!(read_existing(&crlf, T).unwrap().unwrap().expose(), "s3cret");
    }
}
