"""Which image is which: CRIU's magic numbers, file names, entry messages and layouts.

Facts from CRIU 4.2.1 (`criu/include/magic.h`, `criu/image-desc.c`), including the legacy images that
4.2 no longer writes but still reads (older checkpoints contain them). Names are the ones crit prints as
`"magic"`, so a decoded image and crit's JSON name the same thing.

File names are CRIU's printf formats; `%u`/`%lu`/`%d`/`%ld` are decimal, `%x` lower-case hex and `%s` a
word. Raw images have no header at all, so they are known by file name only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

IMG_COMMON = 0x54564319    # first word of ordinary images ("Sarov")
IMG_SERVICE = 0x55105940   # first word of service images: stats-*, irmap-cache ("Zlatoust")
RAW_IMAGE = 0              # per-type magic of the header-less images


class Layout(StrEnum):
    """How entries follow the header."""

    ARRAY = "array"        # entries of one message type until EOF
    SINGLE = "single"      # exactly one entry
    PAGEMAP = "pagemap"    # one pagemap_head, then pagemap_entry records
    GHOST = "ghost"        # ghost_file_entry, then the file content or ghost_chunk_entry + data pairs
    RAW = "raw"            # no CRIU framing (pages, ip dumps, tarballs)
    UNKNOWN = "unknown"    # not an image this table knows


class Prefix(StrEnum):
    """What precedes the per-type magic."""

    COMMON = "common"
    SERVICE = "service"
    NONE = "none"          # inventory (and v1.0 images): the per-type magic comes first


@dataclass(frozen=True, slots=True)
class ImageKind:
    """One kind of image file.

    `message` is the entry message (None for raw and unknown files), `extra` names the reader in
    `forensics.images.extra` of the payload that follows each entry, `legacy` marks images CRIU 4.2
    only reads for compatibility.
    """

    name: str
    magic: int | None
    files: tuple[str, ...]
    message: str | None
    layout: Layout
    extra: str | None = None
    prefix: Prefix = Prefix.COMMON
    legacy: bool = False


def _k(name: str, magic: int, files: str | tuple[str, ...], message: str | None,
       layout: Layout = Layout.ARRAY, extra: str | None = None, prefix: Prefix = Prefix.COMMON,
       legacy: bool = False) -> ImageKind:
    return ImageKind(name, magic, (files,) if isinstance(files, str) else files, message, layout, extra,
                     prefix, legacy)


A, S = Layout.ARRAY, Layout.SINGLE

KINDS: tuple[ImageKind, ...] = (
    # Process tree and tasks.
    _k("INVENTORY", 0x58313116, "inventory.img", "inventory_entry", S, prefix=Prefix.NONE),
    _k("PSTREE", 0x50273030, "pstree.img", "pstree_entry"),
    _k("CORE", 0x55053847, "core-%u.img", "core_entry", S),
    _k("IDS", 0x54432030, "ids-%u.img", "task_kobj_ids_entry", S),
    _k("FS", 0x51403912, "fs-%u.img", "fs_entry", S),
    _k("CREDS", 0x54023547, "creds-%u.img", "creds_entry", S, legacy=True),
    _k("SIGACT", 0x55344201, "sigacts-%u.img", "sa_entry", legacy=True),
    _k("ITIMERS", 0x57464056, "itimers-%u.img", "itimer_entry", legacy=True),
    _k("POSIX_TIMERS", 0x52603957, "posix-timers-%u.img", "posix_timer_entry", legacy=True),
    _k("RLIMIT", 0x57113925, "rlimit-%u.img", "rlimit_entry", legacy=True),
    # Legacy pending-signal queues: signal-s (shared) and signal-p (per thread) share one magic.
    _k("SIGNAL", 0x59255647, ("signal-s-%u.img", "signal-p-%u.img"), "siginfo_entry", legacy=True),
    _k("SECCOMP", 0x64413049, "seccomp.img", "seccomp_entry", S),
    # Memory.
    _k("MM", 0x57492820, "mm-%u.img", "mm_entry", S),
    _k("VMAS", 0x54123737, "vmas-%u.img", "vma_entry", legacy=True),
    _k("PAGEMAP", 0x56084025, ("pagemap-%lu.img", "pagemap-shmem-%lu.img"), None, Layout.PAGEMAP),
    _k("MEMFD_INODE", 0x48453499, "memfd.img", "memfd_inode_entry"),
    # Files.
    _k("FDINFO", 0x56213732, "fdinfo-%u.img", "fdinfo_entry"),
    _k("FILES", 0x56303138, "files.img", "file_entry"),
    _k("REMAP_FPATH", 0x59133954, "remap-fpath.img", "remap_file_path_entry"),
    _k("GHOST_FILE", 0x52583605, "ghost-file-%x.img", "ghost_file_entry", Layout.GHOST),
    _k("FILE_LOCKS", 0x54323616, "filelocks.img", "file_lock_entry"),
    _k("PIPES_DATA", 0x56453709, "pipes-data.img", "pipe_data_entry", extra="pipe_data"),
    _k("FIFO_DATA", 0x59333054, "fifo-data.img", "pipe_data_entry", extra="pipe_data"),
    _k("BPFMAP_DATA", 0x64324033, "bpfmap-data.img", "bpfmap_data_entry", extra="bpfmap_data"),
    _k("TTY_INFO", 0x59453036, "tty-info.img", "tty_info_entry"),
    _k("TTY_DATA", 0x59413026, "tty-data.img", "tty_data_entry"),
    _k("IRMAP_CACHE", 0x57004059, "irmap-cache", "irmap_cache_entry", prefix=Prefix.SERVICE),
    _k("REG_FILES", 0x50363636, "reg-files.img", "reg_file_entry", legacy=True),
    _k("EXT_FILES", 0x59255641, "ext-files.img", "ext_file_entry", legacy=True),
    _k("PIPES", 0x56513555, "pipes.img", "pipe_entry", legacy=True),
    _k("FIFO", 0x58364939, "fifo.img", "fifo_entry", legacy=True),
    _k("EVENTFD_FILE", 0x44523722, "eventfd.img", "eventfd_file_entry", legacy=True),
    _k("EVENTPOLL_FILE", 0x45023858, "eventpoll.img", "eventpoll_file_entry", legacy=True),
    _k("EVENTPOLL_TFD", 0x44433746, "eventpoll-tfd.img", "eventpoll_tfd_entry", legacy=True),
    _k("SIGNALFD", 0x57323820, "signalfd.img", "signalfd_entry", legacy=True),
    _k("TIMERFD", 0x50493712, "timerfd.img", "timerfd_entry", legacy=True),
    _k("INOTIFY_FILE", 0x48424431, "inotify.img", "inotify_file_entry", legacy=True),
    _k("INOTIFY_WD", 0x54562009, "inotify-wd.img", "inotify_wd_entry", legacy=True),
    _k("FANOTIFY_FILE", 0x55096122, "fanotify.img", "fanotify_file_entry", legacy=True),
    _k("FANOTIFY_MARK", 0x56506035, "fanotify-mark.img", "fanotify_mark_entry", legacy=True),
    _k("TTY_FILES", 0x59433025, "tty.img", "tty_file_entry", legacy=True),
    _k("NS_FILES", 0x61394011, "ns-files.img", "ns_file_entry", legacy=True),
    _k("TUNFILE", 0x57143751, "tunfile.img", "tunfile_entry", legacy=True),
    _k("BPFMAP_FILE", 0x57506142, "bpfmap-file.img", "bpfmap_file_entry", legacy=True),
    # 4.1 defined a pidfd image, but pidfds are written to files.img as file_entry records.
    _k("PIDFD", 0x54435556, "pidfd.img", "pidfd_entry", legacy=True),
    # Sockets.
    _k("SK_QUEUES", 0x56264026, "sk-queues.img", "sk_packet_entry", extra="sk_queue"),
    _k("TCP_STREAM", 0x51465506, "tcp-stream-%x.img", "tcp_stream_entry", S, extra="tcp_stream"),
    _k("UNIXSK", 0x54373943, "unixsk.img", "unix_sk_entry", legacy=True),
    _k("INETSK", 0x56443851, "inetsk.img", "inet_sk_entry", legacy=True),
    _k("PACKETSK", 0x60454618, "packetsk.img", "packet_sock_entry", legacy=True),
    _k("NETLINK_SK", 0x58005614, "netlinksk.img", "netlink_sk_entry", legacy=True),
    # Namespaces.
    _k("UTSNS", 0x54473203, "utsns-%u.img", "utsns_entry", S),
    _k("IPC_VAR", 0x53115007, "ipcns-var-%u.img", "ipc_var_entry", S),
    _k("IPCNS_SHM", 0x46283044, "ipcns-shm-%u.img", "ipc_shm_entry", extra="ipc_shm"),
    _k("IPCNS_MSG", 0x55453737, "ipcns-msg-%u.img", "ipc_msg_entry", extra="ipc_msg"),
    _k("IPCNS_SEM", 0x59573019, "ipcns-sem-%u.img", "ipc_sem_entry", extra="ipc_sem"),
    _k("MNTS", 0x55563928, "mountpoints-%u.img", "mnt_entry"),
    _k("NETDEV", 0x57373951, "netdev-%u.img", "net_device_entry"),
    _k("NETNS", 0x55933752, "netns-%u.img", "netns_entry", S),
    _k("USERNS", 0x55474906, "userns-%u.img", "userns_entry", S),
    _k("PIDNS", 0x61157326, "pidns-%u.img", "pidns_entry", S),
    _k("TIMENS", 0x43114433, "timens-%u.img", "timens_entry", S),
    _k("CGROUP", 0x59383330, "cgroup.img", "cgroup_entry", S),
    _k("AUTOFS", 0x49353943, "autofs-%u.img", "autofs_entry", S),
    _k("BINFMT_MISC", 0x67343323, ("binfmt-misc.img", "binfmt-misc-%u.img"), "binfmt_misc_entry"),
    # Whole dump.
    _k("STATS", 0x57093306, "stats-%s", "stats_entry", S, prefix=Prefix.SERVICE),
    _k("CPUINFO", 0x61404013, "cpuinfo.img", "cpuinfo_entry", S),
    _k("APPARMOR", 0x59423047, "apparmor.img", "apparmor_entry", S),
    # CRIU's kernel-features cache (/run/criu.kdat): a C struct after the header, never in a dump.
    _k("KDAT", 0x57023458, "criu.kdat", None, Layout.RAW),
)

# Header-less images (per-type magic 0), known by name only.
RAW_KINDS: tuple[ImageKind, ...] = (
    ImageKind("PAGES", RAW_IMAGE, ("pages-%u.img", "pages-shmem-%ld.img"), None, Layout.RAW),
    ImageKind("IFADDR", RAW_IMAGE, ("ifaddr-%u.img",), None, Layout.RAW),
    ImageKind("ROUTE", RAW_IMAGE, ("route-%u.img",), None, Layout.RAW),
    ImageKind("ROUTE6", RAW_IMAGE, ("route6-%u.img",), None, Layout.RAW),
    ImageKind("RULE", RAW_IMAGE, ("rule-%u.img",), None, Layout.RAW),
    ImageKind("IPTABLES", RAW_IMAGE, ("iptables-%u.img",), None, Layout.RAW),
    ImageKind("IP6TABLES", RAW_IMAGE, ("ip6tables-%u.img",), None, Layout.RAW),
    ImageKind("NFTABLES", RAW_IMAGE, ("nftables-%u.img",), None, Layout.RAW),
    ImageKind("NETNF_CT", RAW_IMAGE, ("netns-ct-%u.img",), None, Layout.RAW),
    ImageKind("NETNF_EXP", RAW_IMAGE, ("netns-exp-%u.img",), None, Layout.RAW),
    # image-desc.c appends ".img" to every format, so 4.x writes "tmpfs-dev-N.tar.gz.img"; accept both.
    ImageKind("TMPFS_DEV", RAW_IMAGE, ("tmpfs-dev-%u.tar.gz.img", "tmpfs-dev-%u.tar.gz"), None, Layout.RAW),
    ImageKind("TMPFS_IMG", RAW_IMAGE, ("tmpfs-%u.tar.gz.img", "tmpfs-%u.tar.gz"), None, Layout.RAW),
)

UNKNOWN = ImageKind("UNKNOWN", None, (), None, Layout.UNKNOWN, prefix=Prefix.NONE)

BY_MAGIC: dict[int, ImageKind] = {k.magic: k for k in KINDS if k.magic is not None}
BY_NAME: dict[str, ImageKind] = {k.name: k for k in KINDS + RAW_KINDS}

_CONVERSIONS = {"%u": r"\d+", "%lu": r"\d+", "%d": r"-?\d+", "%ld": r"-?\d+", "%x": r"[0-9a-f]+",
                "%s": r"[A-Za-z0-9_]+"}


@cache
def _pattern(fmt: str) -> re.Pattern[str]:
    parts = re.split(r"(%l?[udxs])", fmt)
    return re.compile("".join(_CONVERSIONS.get(p, re.escape(p)) for p in parts) + r"\Z")


# Each format with its literal head ("core-" of "core-%u.img"): a name is matched only against the
# formats whose head it starts with, so the ~90 patterns are compiled when (and if) a name needs them,
# not at every start.
_NAME_FORMATS: tuple[tuple[str, str, ImageKind], ...] = tuple(
    (fmt.split("%", 1)[0], fmt, kind) for kind in KINDS + RAW_KINDS for fmt in kind.files
)


@cache
def kind_by_filename(name: str) -> ImageKind | None:
    """The kind CRIU gives a file of this base name, or None if no CRIU format produces it."""
    for head, fmt, kind in _NAME_FORMATS:
        if name.startswith(head) and _pattern(fmt).match(name):
            return kind
    return None


def kind_by_magic(value: int) -> ImageKind | None:
    return BY_MAGIC.get(value)
