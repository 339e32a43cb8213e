//! Reading the CSV file an `import` request names.
//!
//! The path comes from a client of the socket, so it may name anything the user can open: a
//! device that never ends (`/dev/zero`), a FIFO nobody writes to, a folder, a link to any of
//! them, or a file larger than the server would take. Only a regular file (after links are
//! followed) of at most [`MAX_IMPORT_BYTES`] is read, within [`READ_WITHIN`]; anything else
//! is a problem that names the path, answered at once.

use lm_protocol::Problem;
use lm_protocol::csv::MAX_IMPORT_BYTES;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long reading the file may take (a regular file on a hung network mount, say).
pub const READ_WITHIN: Duration = Duration::from_secs(30);

/// The whole of the CSV file at `path`, or a 422 problem on the field `path` that says why not.
pub async fn read(path: &Path) -> Result<Vec<u8>, Box<Problem>> {
    if !path.is_absolute() {
        return Err(path_problem(path, "is not an absolute path".into()));
    }
    let owned = path.to_owned();
    let reading = tokio::task::spawn_blocking(move || read_bounded(&owned));
    match tokio::time::timeout(READ_WITHIN, reading).await {
        Ok(Ok(Ok(bytes))) => Ok(bytes),
        Ok(Ok(Err(why))) => Err(path_problem(path, why)),
        Ok(Err(join)) => Err(path_problem(path, format!("reading it failed: {join}"))),
        Err(_) => Err(path_problem(
            path,
            format!("could not be read within {} s", READ_WITHIN.as_secs()),
        )),
    }
}

fn read_bounded(path: &PathBuf) -> Result<Vec<u8>, String> {
    // Non-blocking, so that opening a FIFO with no writer returns at once instead of waiting
    // for one; it changes nothing for a regular file. No controlling terminal is taken.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot be opened: {e}"))?;
    // The kind is checked on the opened file, so a link swapped meanwhile cannot slip past.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(format!("is {kind}; name a CSV file"));
    }
    let limit = MAX_IMPORT_BYTES as u64;
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    read_at_most(file, limit, meta.len())
}

fn read_at_most(file: File, limit: u64, expected: u64) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(expected as usize);
    // One byte past the limit tells a file that grew while it was read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn too_large(size: u64) -> String {
    format!(
        "is {} bytes, over the import limit of {} MiB; split it into smaller files",
        size,
        MAX_IMPORT_BYTES >> 20
    )
}

fn path_problem(path: &Path, why: String) -> Box<Problem> {
    Box::new(Problem {
        field: Some("path".into()),
        ..Problem::local(
            lm_protocol::problem::kinds::VALIDATION,
            422,
            "Invalid request",
            format!("path: {} {why}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_small_regular_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "product,name\nx,y\n").unwrap();
        assert_eq!(read(&file).await.unwrap(), b"product,name\nx,y\n");
    }

    #[tokio::test]
    async fn a_relative_path_is_refused() {
        let problem = read(Path::new("a.csv")).await.unwrap_err();
        assert!(
            problem.detail.contains("not an absolute path"),
            "{}",
            problem.detail
        );
    }

    #[test]
    fn a_file_that_grows_past_the_limit_while_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "0123456789").unwrap();
        let why = read_at_most(File::open(&file).unwrap(), 4, 4).unwrap_err();
        assert!(why.contains("over the import limit"), "{why}");
    }
}
