"""inotify/fanotify objects, the file handles they watch, and the irmap cache of inode paths."""

from __future__ import annotations

from forensics.images.schema.declare import (
    REP,
    REQ,
    STRING,
    U32,
    U64,
    E,
    Enum,
    F,
    M,
    Msg,
)

SCHEMA: tuple[Msg | Enum, ...] = (
    # fsnotify.proto
    E("mark_type", ("INODE", 1), ("MOUNT", 2)),
    M("inotify_wd_entry", [
        F(1, "id", U32, REQ),
        F(2, "i_ino", U64, REQ),
        F(3, "mask", U32, REQ, hex=True),
        F(4, "ignored_mask", U32, REQ, hex=True),
        F(5, "s_dev", U32, REQ, dev=True),
        F(6, "wd", U32, REQ),
        F(7, "f_handle", "fh_entry", REQ),
    ]),
    M("inotify_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, hex=True),
        F(4, "fown", "fown_entry", REQ),
        F(5, "wd", "inotify_wd_entry", REP),
    ]),
    M("fanotify_inode_mark_entry", [
        F(1, "i_ino", U64, REQ),
        F(2, "f_handle", "fh_entry", REQ),
    ]),
    M("fanotify_mount_mark_entry", [
        F(1, "mnt_id", U32, REQ),
        F(2, "path", STRING),
    ]),
    M("fanotify_mark_entry", [
        F(1, "id", U32, REQ),
        F(2, "type", "mark_type", REQ),
        F(3, "mflags", U32, REQ, hex=True),
        F(4, "mask", U32, REQ, hex=True),
        F(5, "ignored_mask", U32, REQ, hex=True),
        F(6, "s_dev", U32, REQ, dev=True),
        F(7, "ie", "fanotify_inode_mark_entry"),
        F(8, "me", "fanotify_mount_mark_entry"),
    ]),
    M("fanotify_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, hex=True),
        F(3, "fown", "fown_entry", REQ),
        F(4, "faflags", U32, REQ, hex=True),
        F(5, "evflags", U32, REQ, hex=True),
        F(6, "mark", "fanotify_mark_entry", REP),
    ]),
    # fh.proto
    E("fh_entry_sizes", ("min_entries", 16)),
    M("fh_entry", [
        F(1, "bytes", U32, REQ),
        F(2, "type", U32, REQ),
        F(3, "handle", U64, REP),
        F(4, "path", STRING),
        F(5, "mnt_id", U32),
    ]),
    M("irmap_cache_entry", [
        F(1, "dev", U32, REQ, dev=True, odev=True),
        F(2, "inode", U64, REQ),
        F(3, "path", STRING, REQ),
    ]),
)
