//! A string that never shows itself.
//!
//! Client secrets and tokens are wrapped in [`Secret`] from the moment they are read,
//! so `Debug`, `Display`, logs and error messages cannot carry them by accident. The
//! value is reached only through [`Secret::expose`], at the few places that must send
//! or store it. [`read_secret_file`] reads one from a file the way a secret file should be
//! read: a regular file, a few KiB at most, within the run's `--timeout`.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// A secret value (client secret, token) that redacts itself in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What every formatting of a [`Secret`] prints.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// Wraps a value read from a file, the environment, the envelope or a response.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the places that send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The length in bytes (AKS refuses secrets over 190 bytes).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Read from an answer straight into the redacting type (Key Vault's value, Graph's
/// `secretText`): never a plain `String` on the way.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl From<azure_core::credentials::Secret> for Secret {
    fn from(s: azure_core::credentials::Secret) -> Self {
        Self(s.secret().to_owned())
    }
}

/// The most a secret file may hold. An Entra client secret is 40 characters and AKS takes
/// at most 190 bytes; 4 KiB leaves room for a newline or a certificate-sized mistake and
/// refuses anything that is plainly not a secret (a log, a disk image, /dev/zero).
pub const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// Reads a secret from `path`, given with `flag` for the envelope field `field`.
///
/// Only a regular file (a symlink to one is fine) of at most [`MAX_SECRET_FILE_BYTES`],
/// UTF-8, not empty; one trailing newline (`\n` or `\r\n`) is dropped. The read runs on its
/// own thread and is abandoned after `timeout`, so a file swapped for a FIFO after the
/// check cannot hang the run. Errors (kind `Input` on `field`) name the flag and the
/// problem, never the path: it may be the secret itself, given to the wrong flag.
pub fn read_secret_file(path: &Path, flag: &str, field: &str, timeout: Duration) -> Result<Secret> {
    let bad = |why: String| Error::input(field, format!("{flag}: {why}"));
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = path.to_owned();
    std::thread::Builder::new()
        .name("secret-file".into())
        .spawn(move || {
            // The receiver may be gone (timed out): nothing to do then.
            let _ = tx.send(read_regular_file(&owned));
        })
        .map_err(|e| bad(format!("cannot start reading the file ({})", e.kind())))?;
    let bytes = match rx.recv_timeout(timeout) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(why)) => return Err(bad(why)),
        Err(_) => {
            return Err(bad(
                "the file could not be read before --timeout passed (is it a pipe or a stalled network file?)".into(),
            ));
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| bad("the file is not UTF-8 text".into()))?;
    let value = text
        .strip_suffix('\n')
        .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if value.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    Ok(Secret::new(value))
}

/// The bytes of a regular file of at most [`MAX_SECRET_FILE_BYTES`], or why not (without the path).
fn read_regular_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let kind = |m: &std::fs::Metadata| {
        let t = m.file_type();
        if t.is_dir() {
            "a directory"
        } else if is_fifo_or_socket(t) {
            "a pipe or socket"
        } else if is_device(t) {
            "a device"
        } else {
            "not a regular file"
        }
    };
    // Before opening: opening a FIFO would block until a writer came.
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read the file ({})", e.kind()))?;
    if !meta.is_file() {
        return Err(format!("the path is {}, not a regular file", kind(&meta)));
    }
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read the file ({})", e.kind()))?;
    // And again on what was opened, in case the path changed in between.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the file ({})", e.kind()))?;
    if !meta.is_file() {
        return Err(format!("the path is {}, not a regular file", kind(&meta)));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes; a secret file holds at most {MAX_SECRET_FILE_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file ({})", e.kind()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "the file grew past {MAX_SECRET_FILE_BYTES} bytes while it was read"
        ));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn is_fifo_or_socket(t: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    t.is_fifo() || t.is_socket()
}

#[cfg(not(unix))]
fn is_fifo_or_socket(_: std::fs::FileType) -> bool {
    false
}

#[cfg(unix)]
fn is_device(t: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    t.is_char_device() || t.is_block_device()
}

#[cfg(not(unix))]
fn is_device(_: std::fs::FileType) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Secret,
        }
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({REDACTED})"));
        let h = format!("{:#?}", Holder { secret: s.clone() });
        assert!(!h.contains("hunter2"), "{h}");
        assert_eq!(s.expose(), "hunter2-very-secret");
        assert_eq!(s.len(), 19);
    }

    fn read(path: &Path, timeout: Duration) -> Result<Secret> {
        read_secret_file(path, "--client-secret-file", "client_secret", timeout)
    }

    #[test]
    fn a_secret_file_is_a_small_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let t = Duration::from_secs(5);
        let p = d.path().join("s");
        std::fs::write(&p, "abc8Q~secret-value\r\n").unwrap();
        assert_eq!(read(&p, t).unwrap().expose(), "abc8Q~secret-value");
        std::fs::write(&p, "v\n\n").unwrap();
        assert_eq!(
            read(&p, t).unwrap().expose(),
            "v\n",
            "only one newline is dropped"
        );
        #[cfg(unix)]
        {
            let link = d.path().join("link");
            std::os::unix::fs::symlink(&p, &link).unwrap();
            assert_eq!(read(&link, t).unwrap().expose(), "v\n");
        }
        let big = d.path().join("big");
        std::fs::write(&big, vec![b'x'; 4097]).unwrap();
        let just = d.path().join("just");
        std::fs::write(&just, vec![b'x'; 4096]).unwrap();
        assert_eq!(read(&just, t).unwrap().len(), 4096);
        let empty = d.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let binary = d.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        for (p, why) in [
            (big.as_path(), "at most 4096"),
            (empty.as_path(), "empty"),
            (binary.as_path(), "UTF-8"),
            (d.path(), "a directory"),
            (Path::new("/dev/zero"), "a device"),
            (&d.path().join("missing"), "cannot read"),
        ] {
            let e = read(p, t).unwrap_err();
            assert_eq!(
                e.kind(),
                &crate::ErrorKind::Input {
                    field: "client_secret".into()
                },
                "{e}"
            );
            assert!(
                e.message().starts_with("--client-secret-file: ") && e.message().contains(why),
                "{why}: {e}"
            );
            // The path is never shown: it may be the secret, given to the wrong flag.
            assert!(!e.message().contains(&*p.to_string_lossy()), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let e = read(&fifo, Duration::from_secs(5)).unwrap_err();
        assert!(e.message().contains("a pipe"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
