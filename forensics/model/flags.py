"""Numbers CRIU stores as the kernel gave them, turned into the words an analyst reads.

Values are Linux ABI facts (see docs/criu-image-format.md of the shared docs); keeping them in one place
means every renderer prints the same word for the same bit.
"""

from __future__ import annotations

# Docker's default capability set for a root container process (moby's defaults).
DOCKER_DEFAULT_CAPS = {"chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
                       "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap"}

CAPABILITIES = [
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
]

SIGNALS = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
    9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
    16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
    23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
    30: "SIGPWR", 31: "SIGSYS",
}

RLIMITS = ["cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as", "locks",
           "sigpending", "msgqueue", "nice", "rtprio", "rttime"]
RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF

# CRIU's task_state values (compel task-state.h); pycriu mislabels 3 as "Zombie".
TASK_STATES = {1: "alive", 2: "dead", 3: "stopped", 6: "zombie"}
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}

VMA_STATUS = [
    (1 << 0, "regular"), (1 << 1, "stack"), (1 << 2, "vsyscall"), (1 << 3, "vdso"), (1 << 5, "heap"),
    (1 << 6, "file-private"), (1 << 7, "file-shared"), (1 << 8, "anon-shared"), (1 << 9, "anon-private"),
    (1 << 10, "sysvipc"), (1 << 11, "socket"), (1 << 12, "vvar"), (1 << 13, "aio-ring"), (1 << 14, "memfd"),
    (1 << 15, "shadow-stack"), (1 << 16, "guard"), (1 << 17, "uprobes"), (1 << 27, "plugin"),
]
MAP_FLAGS = [(0x1, "shared"), (0x2, "private"), (0x8, "droppable"), (0x20, "anonymous"), (0x100, "growsdown"),
             (0x2000, "locked"), (0x4000, "noreserve"), (0x40000, "hugetlb")]

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4

SOCK_FAMILIES = {1: "unix", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet"}
SOCK_TYPES = {1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket", 10: "packet"}
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV"}
IP_PROTOS = {0: "ip", 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 136: "udplite", 255: "raw"}

OPEN_FLAGS = [(0o1, "O_WRONLY"), (0o2, "O_RDWR"), (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"),
              (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"),
              (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
              (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH")]

MOUNT_FSTYPES = {0: "unsupported", 1: "proc", 2: "sysfs", 3: "devtmpfs", 4: "binfmt_misc", 5: "tmpfs",
                 6: "devpts", 7: "simfs", 8: "pstore", 9: "securityfs", 10: "fusectl", 11: "debugfs",
                 12: "cgroup", 13: "aufs", 14: "mqueue", 15: "fuse", 16: "auto", 17: "overlay", 18: "autofs",
                 19: "tracefs", 23: "cgroup2"}

CLOCKS = {0: "realtime", 1: "monotonic", 7: "boottime", 8: "realtime_alarm", 9: "boottime_alarm"}


# x86_64 system call numbers a frozen thread is commonly found in (arch/x86/entry/syscalls/syscall_64.tbl).
X86_64_SYSCALLS = {
    0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 6: "lstat", 7: "poll", 8: "lseek",
    9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 13: "rt_sigaction", 14: "rt_sigprocmask", 16: "ioctl",
    17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev", 21: "access", 22: "pipe", 23: "select",
    24: "sched_yield", 32: "dup", 33: "dup2", 34: "pause", 35: "nanosleep", 39: "getpid", 41: "socket",
    42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown",
    49: "bind", 50: "listen", 56: "clone", 57: "fork", 58: "vfork", 59: "execve", 60: "exit", 61: "wait4",
    62: "kill", 72: "fcntl", 73: "flock", 74: "fsync", 78: "getdents", 79: "getcwd", 89: "readlink",
    96: "gettimeofday", 101: "ptrace", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex",
    217: "getdents64", 228: "clock_gettime", 230: "clock_nanosleep", 231: "exit_group", 232: "epoll_wait",
    247: "waitid", 257: "openat", 262: "newfstatat", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait",
    288: "accept4", 299: "recvmmsg", 307: "sendmmsg", 318: "getrandom", 332: "statx", 426: "io_uring_enter",
    435: "clone3", 441: "epoll_pwait2",
}


def syscall_name(number: int | None) -> str | None:
    """The x86_64 name of a system call number (or "syscall N")."""
    if number is None:
        return None
    return X86_64_SYSCALLS.get(number, f"syscall {number}")


def bit_words(value: int, table: list[tuple[int, str]]) -> list[str]:
    """Names of the set bits, then any bits the table does not know as one hex remainder."""
    words, rest = [], value
    for bit, name in table:
        if value & bit:
            words.append(name)
            rest &= ~bit
    if rest:
        words.append(hex(rest))
    return words


def capability_names(mask: int) -> list[str]:
    return [CAPABILITIES[i] if i < len(CAPABILITIES) else f"cap_{i}" for i in range(64) if mask >> i & 1]


def signal_names(mask: int) -> list[str]:
    """Signal set bit n-1 stands for signal n."""
    return [SIGNALS.get(i + 1, f"SIGRT{i + 1 - 34}" if i + 1 >= 34 else str(i + 1))
            for i in range(64) if mask >> i & 1]


def prot_string(prot: int) -> str:
    return ("r" if prot & PROT_READ else "-") + ("w" if prot & PROT_WRITE else "-") + \
        ("x" if prot & PROT_EXEC else "-")


def open_flag_words(flags: int) -> list[str]:
    words = bit_words(flags, OPEN_FLAGS)
    if not flags & 0o3:
        words.insert(0, "O_RDONLY")
    return words
