"""Open files: fd tables (fdinfo), the shared file objects of files.img and their per-kind payloads.

One file_entry per open file description; its `type` says which sub-message is set. Ids are shared by
fdinfo, fs, mm (exe, file mappings), remap-fpath and the socket queues. Also the payload-bearing
images that belong to files: pipe/fifo data, ghost files (contents of deleted files) and bpf map data.
"""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    I32,
    I64,
    REP,
    REQ,
    S32,
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
    # fdinfo.proto
    E("fd_types",
        ("UND", 0), ("REG", 1), ("PIPE", 2), ("FIFO", 3), ("INETSK", 4), ("UNIXSK", 5), ("EVENTFD", 6),
        ("EVENTPOLL", 7), ("INOTIFY", 8), ("SIGNALFD", 9), ("PACKETSK", 10), ("TTY", 11), ("FANOTIFY", 12),
        ("NETLINKSK", 13), ("NS", 14), ("TUNF", 15), ("EXT", 16), ("TIMERFD", 17), ("MEMFD", 18),
        ("BPFMAP", 19), ("PIDFD", 20), ("CTL_TTY", 65534), ("AUTOFS_PIPE", 65535)),
    M("fdinfo_entry", [
        F(1, "id", U32, REQ),  # -> file_entry.id in files.img
        F(2, "flags", U32, REQ),  # fd flags: FD_CLOEXEC = 1
        F(3, "type", "fd_types", REQ),
        F(4, "fd", U32, REQ),
        F(5, "xattr_security_selinux", STRING),
    ]),
    M("file_entry", [
        F(1, "type", "fd_types", REQ),
        F(2, "id", U32, REQ),
        F(3, "reg", "reg_file_entry"),
        F(4, "isk", "inet_sk_entry"),
        F(5, "nsf", "ns_file_entry"),
        F(6, "psk", "packet_sock_entry"),
        F(7, "nlsk", "netlink_sk_entry"),
        F(8, "efd", "eventfd_file_entry"),
        F(9, "epfd", "eventpoll_file_entry"),
        F(10, "sgfd", "signalfd_entry"),
        F(11, "tunf", "tunfile_entry"),
        F(12, "tfd", "timerfd_entry"),
        F(13, "ify", "inotify_file_entry"),
        F(14, "ffy", "fanotify_file_entry"),
        F(15, "ext", "ext_file_entry"),
        F(16, "usk", "unix_sk_entry"),
        F(17, "fifo", "fifo_entry"),
        F(18, "pipe", "pipe_entry"),
        F(19, "tty", "tty_file_entry"),
        F(20, "memfd", "memfd_file_entry"),
        F(21, "bpf", "bpfmap_file_entry"),
        F(22, "pidfd", "pidfd_entry"),
    ]),
    # fown.proto
    M("fown_entry", [
        F(1, "uid", U32, REQ),
        F(2, "euid", U32, REQ),
        F(3, "signum", U32, REQ),
        F(4, "pid_type", U32, REQ),
        F(5, "pid", U32, REQ),
    ]),
    # regfile.proto
    M("reg_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, flags='rfile.flags'),  # open flags; O_CLOEXEC lives in fdinfo
        F(3, "pos", U64, REQ),
        F(5, "fown", "fown_entry", REQ),
        F(6, "name", STRING, REQ),
        F(7, "mnt_id", S32, default=-1),
        F(8, "size", U64),
        F(9, "ext", BOOL),
        F(10, "mode", U32),
        F(11, "build_id", U32, REP),
        F(12, "checksum", U32),
        F(13, "checksum_config", U32),
        F(14, "checksum_parameter", U32),
    ]),
    # remap-file-path.proto
    E("remap_type", ("LINKED", 0), ("GHOST", 1), ("PROCFS", 2)),
    M("remap_file_path_entry", [
        F(1, "orig_id", U32, REQ),  # the file id of the deleted file
        F(2, "remap_id", U32, REQ),  # LINKED: a file id; GHOST: N of ghost-file-<N hex>.img; PROCFS: a pid
        F(3, "remap_type", "remap_type"),
    ]),
    # ghost-file.proto
    M("ghost_file_entry", [
        F(1, "uid", U32, REQ),
        F(2, "gid", U32, REQ),
        F(3, "mode", U32, REQ),
        F(4, "dev", U32, dev=True),
        F(5, "ino", U64),
        F(6, "rdev", U32, dev=True, odev=True),
        F(7, "atim", "timeval"),
        F(8, "mtim", "timeval"),
        F(9, "chunks", BOOL),  # content follows as ghost_chunk_entry + data pairs (sparse files)
        F(10, "size", U64),  # the deleted file's st_size
        F(11, "symlnk_target", STRING),
    ]),
    M("ghost_chunk_entry", [
        F(1, "len", U64, REQ),
        F(2, "off", U64, REQ),
    ]),
    # time.proto
    M("timeval", [
        F(1, "tv_sec", U64, REQ),
        F(2, "tv_usec", U64, REQ),
    ]),
    # file-lock.proto
    M("file_lock_entry", [
        F(1, "flag", U32, REQ),
        F(2, "type", U32, REQ),
        F(3, "pid", I32, REQ),
        F(4, "fd", I32, REQ),
        F(5, "start", I64, REQ),
        F(6, "len", I64, REQ),
    ]),
    # pipe.proto
    M("pipe_entry", [
        F(1, "id", U32, REQ),
        F(2, "pipe_id", U32, REQ),
        F(3, "flags", U32, REQ, hex=True),
        F(4, "fown", "fown_entry", REQ),
    ]),
    # pipe-data.proto
    M("pipe_data_entry", [
        F(1, "pipe_id", U32, REQ),
        F(2, "bytes", U32, REQ),  # length of the data that follows the entry
        F(3, "size", U32),  # the pipe's capacity, not the data length
    ]),
    # fifo.proto
    M("fifo_entry", [
        F(1, "id", U32, REQ),
        F(2, "pipe_id", U32, REQ),
        F(3, "regf_id", U32),
    ]),
    # ext-file.proto
    M("ext_file_entry", [
        F(1, "id", U32, REQ),
        F(5, "fown", "fown_entry", REQ),
    ]),
    # ns.proto
    M("ns_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "ns_id", U32, REQ),
        F(3, "ns_cflag", U32, REQ),
        F(4, "flags", U32, REQ),
    ]),
    # tun.proto
    M("tunfile_entry", [
        F(1, "id", U32, REQ),
        F(2, "netdev", STRING),
        F(3, "detached", BOOL),
        F(4, "ns_id", U32),
    ]),
    M("tun_link_entry", [
        F(1, "flags", U32, REQ, hex=True),
        F(2, "owner", I32, REQ),
        F(3, "group", I32, REQ),
        F(4, "vnethdr", U32, REQ),
        F(5, "sndbuf", U32, REQ),
    ]),
    # memfd.proto
    M("memfd_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, flags='rfile.flags'),
        F(3, "pos", U64, REQ),
        F(4, "fown", "fown_entry", REQ),
        F(5, "inode_id", U32, REQ),  # -> memfd_inode_entry in memfd.img
    ]),
    M("memfd_inode_entry", [
        F(1, "name", STRING, REQ),
        F(2, "uid", U32, REQ),
        F(3, "gid", U32, REQ),
        F(4, "size", U64, REQ),
        F(5, "shmid", U32, REQ),  # contents: pagemap-shmem-<shmid>.img
        F(6, "seals", U32, REQ, flags='seals.flags'),
        F(7, "inode_id", U64, REQ),
        F(8, "hugetlb_flag", U32),
        F(9, "mode", U32),
    ]),
    # pidfd.proto
    M("pidfd_entry", [
        F(1, "id", U32, REQ),
        F(2, "ino", U32, REQ),
        F(3, "flags", U32, REQ),
        F(4, "nspid", I32, REQ),
        F(5, "fown", "fown_entry", REQ),
    ]),
    # bpfmap-file.proto
    M("bpfmap_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, flags='rfile.flags'),
        F(3, "pos", U64, REQ),
        F(4, "fown", "fown_entry", REQ),
        F(5, "map_type", U32, REQ),
        F(6, "key_size", U32, REQ),
        F(7, "value_size", U32, REQ),
        F(8, "map_id", U32, REQ),
        F(9, "max_entries", U32, REQ),
        F(10, "map_flags", U32, REQ),
        F(11, "memlock", U64, REQ),
        F(12, "frozen", BOOL, REQ, default=False),
        F(13, "map_name", STRING, REQ),
        F(14, "ifindex", U32, REQ, default=0),
        F(15, "mnt_id", S32, default=-1),
        F(16, "map_extra", U64),
    ]),
    # bpfmap-data.proto
    M("bpfmap_data_entry", [
        F(1, "map_id", U32, REQ),
        F(2, "keys_bytes", U32, REQ),
        F(3, "values_bytes", U32, REQ),
        F(4, "count", U32, REQ),
    ]),
    # eventfd.proto
    M("eventfd_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ),
        F(3, "fown", "fown_entry", REQ),
        F(4, "counter", U64, REQ),
    ]),
    # eventpoll.proto
    M("eventpoll_tfd_entry", [
        F(1, "id", U32, REQ),
        F(2, "tfd", U32, REQ),
        F(3, "events", U32, REQ),
        F(4, "data", U64, REQ),
        F(5, "dev", U32),
        F(6, "inode", U64),
        F(7, "pos", U64),
    ]),
    M("eventpoll_file_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ),
        F(3, "fown", "fown_entry", REQ),
        F(4, "tfd", "eventpoll_tfd_entry", REP),
    ]),
    # signalfd.proto
    M("signalfd_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, hex=True),
        F(3, "fown", "fown_entry", REQ),
        F(4, "sigmask", U64, REQ, hex=True),
    ]),
    # timerfd.proto
    M("timerfd_entry", [
        F(1, "id", U32, REQ),
        F(2, "flags", U32, REQ, hex=True),
        F(3, "fown", "fown_entry", REQ),
        F(4, "clockid", U32, REQ),
        F(5, "ticks", U64, REQ),
        F(6, "settime_flags", U32, REQ, hex=True),
        F(7, "vsec", U64, REQ),
        F(8, "vnsec", U64, REQ),
        F(9, "isec", U64, REQ),
        F(10, "insec", U64, REQ),
    ]),
)
