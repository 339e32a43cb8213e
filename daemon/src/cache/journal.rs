//! The inventory on disk: a snapshot of the whole cache and the journal of what came after
//! it, two files of checksummed frames in the cache folder.
//!
//! A frame is a length, a CRC-32 and JSON records, one per line ([`Entry`]); a feed page is
//! kept as the server sent it. Each applied
//! feed page is one frame appended to `inventory.journal`, its changes *and* the cursor it
//! moves to: a frame cut short or garbled by a crash fails its checksum, and the journal is
//! read up to the last whole frame, so the cache always equals a follower at its cursor.
//! Opening reads `inventory.snapshot`, then the journal. When the journal outgrows the
//! snapshot, [`Journal::compact`] writes the next snapshot beside the current one, renames
//! it into place and starts an empty journal of the same generation; a journal whose
//! generation is not the snapshot's is one a compaction already folded in, and is dropped.
//!
//! Only one lmd opens a cache: sled's lock on the folder, taken first, guards these files
//! too.
//!
//! Why not one sled record per license and holder: sled spent a dozen allocations and
//! most of a first sync's time on each of ~285,000, and held 60–190 MiB besides the
//! inventory (measured with `lm status --memory`). Reads are served from memory anyway;
//! the disk only has to take pages in order and give them back at start.

use super::{CacheError, Result};
use lm_protocol::{Assignment, Change, License, LicenseId, Member};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

const SNAPSHOT_FILE: &str = "inventory.snapshot";
const JOURNAL_FILE: &str = "inventory.journal";
/// What a file of this layout starts with, before its generation (8 bytes, little-endian).
const MAGIC: &[u8; 8] = b"lm-inv01";
const HEADER_BYTES: u64 = 16;
/// A frame's length (4 bytes) and CRC-32 (4 bytes), little-endian.
const FRAME_HEADER_BYTES: usize = 8;
/// A record takes items until it is this large.
const RECORD_BYTES: usize = 64 << 10;
/// No frame is larger: a length beyond it is garbage.
const MAX_FRAME_BYTES: u32 = 256 << 20;
/// The journal is folded into a new snapshot once it is larger than the snapshot and this.
const COMPACT_AFTER_BYTES: u64 = 16 << 20;

/// One record of the journal or the snapshot, as read back.
#[derive(Deserialize)]
pub(super) enum Entry {
    /// The feed revision the cache holds from here on.
    Cursor(i64),
    /// Changes of a feed page.
    Page(Vec<Change>),
    /// A feed page as the server sent it (see [`feed_record`]).
    Feed(lm_protocol::ChangePage),
    /// Expiry alerts given (see `Cache::alert_key`).
    Alerted(Vec<String>),
    Licenses(Vec<License>),
    Holders(Vec<(LicenseId, Assignment)>),
    Members(Vec<Member>),
}

/// Which [`Entry`] records of items are written as.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Page,
    Alerted,
    Licenses,
    Holders,
    Members,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Page => "Page",
            Kind::Alerted => "Alerted",
            Kind::Licenses => "Licenses",
            Kind::Holders => "Holders",
            Kind::Members => "Members",
        }
    }
}

/// The record of a feed page kept as the server sent it (`raw`, a [`lm_protocol::ChangePage`]
/// already read from those very bytes): no second serialization of 100,000 licenses on a
/// first sync.
pub(super) fn feed_record(raw: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(raw.len() + 10);
    record.extend_from_slice(b"{\"Feed\":");
    record.extend_from_slice(raw);
    record.push(b'}');
    record
}

/// `items` as [`Entry`] records of `kind`, each about [`RECORD_BYTES`]: written one item
/// at a time, borrowed, so that writing a snapshot copies nothing out of the inventory.
pub(super) fn records<T: Serialize>(
    kind: Kind,
    items: impl IntoIterator<Item = T>,
) -> impl Iterator<Item = Vec<u8>> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        let mut record = Vec::with_capacity(RECORD_BYTES + RECORD_BYTES / 2);
        record.extend_from_slice(b"{\"");
        record.extend_from_slice(kind.name().as_bytes());
        record.extend_from_slice(b"\":[");
        let mut first = true;
        while record.len() < RECORD_BYTES {
            let Some(item) = items.next() else { break };
            if !first {
                record.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut record, &item).expect("a cache record always serializes");
        }
        record.extend_from_slice(b"]}");
        Some(record)
    })
}

/// The journal file being appended to, and where it stands against the snapshot.
pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    generation: u64,
    journal_bytes: u64,
    snapshot_bytes: u64,
}

impl Journal {
    /// Opens the inventory files in `dir` (none yet: an empty cache), handing every entry
    /// of the snapshot and then of the journal to `take`, in order. A journal cut short is
    /// cut back to its last whole frame; a snapshot that is not whole is an error.
    pub(super) fn open(dir: &Path, mut take: impl FnMut(Entry)) -> Result<Journal> {
        for leftover in [SNAPSHOT_FILE, JOURNAL_FILE].map(|f| dir.join(format!("{f}.new"))) {
            match std::fs::remove_file(&leftover) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(&leftover, e));
                }
                _ => {}
            }
        }
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let (generation, snapshot_bytes) = match File::open(&snapshot_path) {
            Ok(file) => {
                let read = read_frames(&snapshot_path, file, None, &mut take)?
                    .expect("any generation is read");
                if read.whole != read.len {
                    return Err(corrupt(&snapshot_path, read.whole, "not whole"));
                }
                (read.generation, read.len)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(e) => return Err(io_error(&snapshot_path, e)),
        };
        let journal_path = dir.join(JOURNAL_FILE);
        let journal_bytes = match File::open(&journal_path) {
            Ok(file) => {
                // A journal of another generation was folded into the snapshot already:
                // none of it is applied again.
                if let Some(read) = read_frames(&journal_path, file, Some(generation), &mut take)? {
                    if read.whole < read.len {
                        tracing::warn!(
                            journal = %journal_path.display(),
                            kept = read.whole,
                            dropped = read.len - read.whole,
                            "the cache's journal ends in a frame cut short (a crash while writing); dropped it"
                        );
                        let file = OpenOptions::new()
                            .write(true)
                            .open(&journal_path)
                            .map_err(|e| io_error(&journal_path, e))?;
                        file.set_len(read.whole)
                            .map_err(|e| io_error(&journal_path, e))?;
                    }
                    Some(read.whole)
                } else {
                    tracing::info!(
                        journal = %journal_path.display(),
                        "the journal was folded into the snapshot before; starting a new one"
                    );
                    None
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&journal_path, e)),
        };
        let journal_bytes = match journal_bytes {
            Some(bytes) => bytes,
            None => {
                start_journal(dir, generation)?;
                HEADER_BYTES
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(&journal_path)
            .map_err(|e| io_error(&journal_path, e))?;
        Ok(Journal {
            dir: dir.to_owned(),
            file,
            generation,
            journal_bytes: journal_bytes - HEADER_BYTES,
            snapshot_bytes,
        })
    }

    /// Appends `records` and the `cursor` they bring the cache to, as one frame: after a
    /// crash the journal has all of it or none.
    pub(super) fn append(
        &mut self,
        records: impl Iterator<Item = Vec<u8>>,
        cursor: Option<i64>,
    ) -> Result<()> {
        let mut frame = vec![0; FRAME_HEADER_BYTES];
        for record in records {
            frame.extend_from_slice(&record);
            frame.push(b'\n');
        }
        if let Some(cursor) = cursor {
            serde_json::to_writer(&mut frame, &CursorRecord::Cursor(cursor))
                .expect("a cursor serializes");
            frame.push(b'\n');
        }
        seal(&mut frame);
        self.file
            .write_all(&frame)
            .map_err(|e| io_error(&self.dir.join(JOURNAL_FILE), e))?;
        self.journal_bytes += frame.len() as u64;
        Ok(())
    }

    /// Writes what was appended through to the disk.
    pub(super) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| io_error(&self.dir.join(JOURNAL_FILE), e))
    }

    /// Whether the journal has grown enough to be folded into a new snapshot.
    pub(super) fn compaction_due(&self) -> bool {
        self.journal_bytes > self.snapshot_bytes.max(COMPACT_AFTER_BYTES)
    }

    /// The bytes both files take.
    pub(super) fn bytes_on_disk(&self) -> u64 {
        HEADER_BYTES * 2 + self.snapshot_bytes + self.journal_bytes
    }

    /// Writes `records` (the whole cache) at `cursor` as the next snapshot and starts an
    /// empty journal after it. Until the snapshot is renamed into place, the files on disk
    /// are the old ones; after, the old journal is recognized as folded in.
    pub(super) fn compact(
        &mut self,
        records: impl IntoIterator<Item = Vec<u8>>,
        cursor: i64,
    ) -> Result<()> {
        let next = self.generation + 1;
        let fresh = self.dir.join(format!("{SNAPSHOT_FILE}.new"));
        let mut file = std::io::BufWriter::new(create(&fresh)?);
        let mut bytes = HEADER_BYTES;
        let mut write = |frame: &[u8]| -> Result<()> {
            bytes += frame.len() as u64;
            file.write_all(frame).map_err(|e| io_error(&fresh, e))
        };
        write(&header(next))?;
        for record in records {
            let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + record.len() + 1);
            frame.resize(FRAME_HEADER_BYTES, 0);
            frame.extend_from_slice(&record);
            frame.push(b'\n');
            seal(&mut frame);
            write(&frame)?;
        }
        let mut last = vec![0; FRAME_HEADER_BYTES];
        serde_json::to_writer(&mut last, &CursorRecord::Cursor(cursor))
            .expect("a cursor serializes");
        last.push(b'\n');
        seal(&mut last);
        write(&last)?;
        let file = file
            .into_inner()
            .map_err(|e| io_error(&fresh, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&fresh, e))?;
        let snapshot = self.dir.join(SNAPSHOT_FILE);
        std::fs::rename(&fresh, &snapshot).map_err(|e| io_error(&snapshot, e))?;
        self.file = start_journal(&self.dir, next)?;
        self.generation = next;
        self.snapshot_bytes = bytes;
        self.journal_bytes = 0;
        Ok(())
    }
}

/// How a cursor is written: the shape of [`Entry::Cursor`].
#[derive(Serialize)]
enum CursorRecord {
    Cursor(i64),
}

/// Starts an empty journal of `generation` in place of the one in `dir`; returns it open
/// for appending.
fn start_journal(dir: &Path, generation: u64) -> Result<File> {
    let fresh = dir.join(format!("{JOURNAL_FILE}.new"));
    let mut file = create(&fresh)?;
    file.write_all(&header(generation))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&fresh, e))?;
    let journal = dir.join(JOURNAL_FILE);
    std::fs::rename(&fresh, &journal).map_err(|e| io_error(&journal, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    drop(file);
    OpenOptions::new()
        .append(true)
        .open(&journal)
        .map_err(|e| io_error(&journal, e))
}

/// A new owner-only file.
fn create(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))
}

fn header(generation: u64) -> [u8; HEADER_BYTES as usize] {
    let mut header = [0; HEADER_BYTES as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&generation.to_le_bytes());
    header
}

fn parse_header(header: &[u8; HEADER_BYTES as usize]) -> Option<u64> {
    (header[..8] == *MAGIC).then(|| u64::from_le_bytes(header[8..].try_into().expect("8 bytes")))
}

/// Fills in the length and checksum of a frame whose records follow its first
/// [`FRAME_HEADER_BYTES`].
fn seal(frame: &mut [u8]) {
    let payload = &frame[FRAME_HEADER_BYTES..];
    let len = u32::try_from(payload.len()).expect("a frame under 4 GiB");
    let crc = crc32fast::hash(payload);
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// What reading a file of frames found.
struct FramesRead {
    generation: u64,
    /// The bytes up to the end of the last whole frame.
    whole: u64,
    /// The file's length.
    len: u64,
}

/// Reads the header and the frames of `file`, handing their entries to `take`, up to the
/// first frame cut short or failing its checksum; nothing when it is not of the
/// `generation` asked for.
fn read_frames(
    path: &Path,
    file: File,
    generation: Option<u64>,
    take: &mut impl FnMut(Entry),
) -> Result<Option<FramesRead>> {
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut header_bytes = [0; HEADER_BYTES as usize];
    reader
        .read_exact(&mut header_bytes)
        .map_err(|_| corrupt(path, 0, "no header"))?;
    let found =
        parse_header(&header_bytes).ok_or_else(|| corrupt(path, 0, "not an lm cache file"))?;
    if generation.is_some_and(|g| g != found) {
        return Ok(None);
    }
    // Read and parsed on a thread of its own while `take` puts what it parsed in place:
    // a start on a warm cache takes the longer of the two, not both.
    let (parsed, arriving) = std::sync::mpsc::sync_channel::<Result<Vec<Entry>>>(16);
    let whole = std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            let mut whole = HEADER_BYTES;
            let mut payload = Vec::new();
            loop {
                let mut frame_header = [0; FRAME_HEADER_BYTES];
                if reader.read_exact(&mut frame_header).is_err() {
                    break;
                }
                let size = u32::from_le_bytes(frame_header[..4].try_into().expect("4 bytes"));
                let crc = u32::from_le_bytes(frame_header[4..].try_into().expect("4 bytes"));
                if size > MAX_FRAME_BYTES || u64::from(size) > len - whole {
                    break;
                }
                payload.resize(size as usize, 0);
                if reader.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
                    break;
                }
                // One after another, whatever white space (a page as the server sent it
                // may hold line breaks) lies between.
                let entries = serde_json::Deserializer::from_slice(&payload)
                    .into_iter()
                    .collect::<Result<Vec<Entry>, _>>()
                    .map_err(|source| CacheError::Record {
                        key: format!("{} at byte {whole}", path.display()),
                        source,
                    });
                let failed = entries.is_err();
                if parsed.send(entries).is_err() || failed {
                    break;
                }
                whole += (FRAME_HEADER_BYTES + payload.len()) as u64;
            }
            whole
        });
        for entries in arriving {
            entries?.into_iter().for_each(&mut *take);
        }
        Ok::<_, CacheError>(
            reading
                .join()
                .expect("reading the cache's frames does not panic"),
        )
    })?;
    Ok(Some(FramesRead {
        generation: found,
        whole,
        len,
    }))
}

fn io_error(path: &Path, source: std::io::Error) -> CacheError {
    CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, at: u64, what: &str) -> CacheError {
    CacheError::Corrupt {
        path: path.to_owned(),
        at,
        what: what.to_owned(),
    }
}

#[cfg(test)]
mod tests;
