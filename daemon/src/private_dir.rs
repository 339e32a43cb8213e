//! Which folders lmd may make its own: a shared folder — sticky and writable by all, like
//! /tmp — belongs to every user of the machine, so lmd never closes it up (it would lock
//! every other program out of it).

use std::os::unix::fs::PermissionsExt;

/// Whether `meta` is a shared folder: the sticky bit set, or writable by everyone.
pub fn is_shared(meta: &std::fs::Metadata) -> bool {
    let mode = meta.permissions().mode();
    meta.is_dir() && (mode & 0o1000 != 0 || mode & 0o002 != 0)
}
