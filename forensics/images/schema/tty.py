"""Terminals: tty-info.img (one per tty), tty_file_entry (in files.img) and tty-data.img."""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    BYTES,
    REP,
    REQ,
    U32,
    E,
    Enum,
    F,
    M,
    Msg,
)

SCHEMA: tuple[Msg | Enum, ...] = (
    # tty.proto
    E("TtyType",
        ("UNKNOWN", 0), ("PTY", 1), ("CONSOLE", 2), ("VT", 3), ("CTTY", 4), ("EXT_TTY", 5), ("SERIAL", 6)),
    M("winsize_entry", [
        F(1, "ws_row", U32, REQ),
        F(2, "ws_col", U32, REQ),
        F(3, "ws_xpixel", U32, REQ),
        F(4, "ws_ypixel", U32, REQ),
    ]),
    M("termios_entry", [
        F(1, "c_iflag", U32, REQ),
        F(2, "c_oflag", U32, REQ),
        F(3, "c_cflag", U32, REQ),
        F(4, "c_lflag", U32, REQ),
        F(5, "c_line", U32, REQ),
        F(6, "c_ispeed", U32, REQ),
        F(7, "c_ospeed", U32, REQ),
        F(8, "c_cc", U32, REP),
    ]),
    M("tty_pty_entry", [
        F(1, "index", U32, REQ),
    ]),
    M("tty_data_entry", [
        F(1, "tty_id", U32, REQ),
        F(2, "data", BYTES, REQ),
    ]),
    M("tty_info_entry", [
        F(1, "id", U32, REQ),
        F(2, "type", "TtyType", REQ),
        F(3, "locked", BOOL, REQ),
        F(4, "exclusive", BOOL, REQ),
        F(5, "packet_mode", BOOL, REQ),
        F(6, "sid", U32, REQ),
        F(7, "pgrp", U32, REQ),
        F(8, "rdev", U32, REQ),
        F(9, "termios", "termios_entry"),
        F(10, "termios_locked", "termios_entry"),
        F(11, "winsize", "winsize_entry"),
        F(12, "pty", "tty_pty_entry"),
        F(13, "dev", U32),
        F(14, "uid", U32),
        F(15, "gid", U32),
    ]),
    M("tty_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "tty_info_id", U32, REQ),
        F(3, "flags", U32, REQ, hex=True),
        F(4, "fown", "fown_entry", REQ),
        F(6, "regf_id", U32),
    ]),
)
