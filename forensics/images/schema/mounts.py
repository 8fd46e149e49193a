"""Mount namespaces: mountpoints-<id>.img, autofs and binfmt_misc state."""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    I32,
    REQ,
    STRING,
    U32,
    E,
    Enum,
    F,
    M,
    Msg,
)

SCHEMA: tuple[Msg | Enum, ...] = (
    # mnt.proto
    E("fstype",
        ("UNSUPPORTED", 0), ("PROC", 1), ("SYSFS", 2), ("DEVTMPFS", 3), ("BINFMT_MISC", 4), ("TMPFS", 5),
        ("DEVPTS", 6), ("SIMFS", 7), ("PSTORE", 8), ("SECURITYFS", 9), ("FUSECTL", 10), ("DEBUGFS", 11),
        ("CGROUP", 12), ("AUFS", 13), ("MQUEUE", 14), ("FUSE", 15), ("AUTO", 16), ("OVERLAYFS", 17),
        ("AUTOFS", 18), ("TRACEFS", 19), ("CGROUP2", 23)),
    M("mnt_entry", [
        F(1, "fstype", U32, REQ),  # an fstype value, stored as a plain number
        F(2, "mnt_id", U32, REQ),
        F(3, "root_dev", U32, REQ, dev=True),  # kernel encoding: major << 20 | minor
        F(4, "parent_mnt_id", U32, REQ),
        F(5, "flags", U32, REQ, hex=True),
        F(6, "root", STRING, REQ),
        F(7, "mountpoint", STRING, REQ),
        F(8, "source", STRING, REQ),
        F(9, "options", STRING, REQ),
        F(10, "shared_id", U32),
        F(11, "master_id", U32),
        F(12, "with_plugin", BOOL),
        F(13, "ext_mount", BOOL),
        F(14, "fsname", STRING),
        F(15, "internal_sharing", BOOL),
        F(16, "deleted", BOOL),
        F(17, "sb_flags", U32, hex=True),
        F(18, "ext_key", STRING),
    ]),
    # autofs.proto
    M("autofs_entry", [
        F(1, "fd", I32, REQ),
        F(2, "pgrp", I32, REQ),
        F(3, "timeout", I32, REQ),
        F(4, "minproto", I32, REQ),
        F(5, "maxproto", I32, REQ),
        F(6, "mode", I32, REQ),
        F(7, "uid", I32),
        F(8, "gid", I32),
        F(9, "read_fd", I32),
    ]),
    # binfmt-misc.proto
    M("binfmt_misc_entry", [
        F(1, "name", STRING, REQ),
        F(2, "enabled", BOOL, REQ),
        F(3, "interpreter", STRING, REQ),
        F(4, "flags", STRING),
        F(5, "extension", STRING),
        F(6, "magic", STRING),
        F(7, "mask", STRING),
        F(8, "offset", I32),
    ]),
)
