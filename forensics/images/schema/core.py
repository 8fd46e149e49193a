"""Tasks: the per-thread core image, the process tree, ids, creds, signals, timers, rlimits, fs.

core-<tid>.img holds one core_entry per thread; the thread-group leader's also carries task_core_entry
(tc). pstree.img lists processes with virtual pids; ids-<pid>.img names the kernel objects a task
shares; fs-<pid>.img its cwd and root file ids.
"""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    BYTES,
    I32,
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
    # core.proto
    E("seccomp_mode", ("disabled", 0), ("strict", 1), ("filter", 2)),
    M("task_core_entry", [
        F(1, "task_state", U32, REQ, dict='gen'),  # 1 alive, 2 dead (zombie), 3 stopped
        F(2, "exit_code", U32, REQ),  # zombies only: the raw wait status
        F(3, "personality", U32, REQ),
        F(4, "flags", U32, REQ),
        F(5, "blk_sigset", U64, REQ, hex=True),
        F(6, "comm", STRING, REQ),
        F(7, "timers", "task_timers_entry"),
        F(8, "rlimits", "task_rlimits_entry"),
        F(9, "cg_set", U32),  # deprecated since 3.18: thread_core.cg_set
        F(10, "signals_s", "signal_queue_entry"),
        F(11, "old_seccomp_mode", "seccomp_mode"),
        F(12, "old_seccomp_filter", U32),
        F(13, "loginuid", U32),
        F(14, "oom_score_adj", I32),
        F(15, "sigactions", "sa_entry", REP),  # by signal number, SIGKILL and SIGSTOP left out
        F(18, "child_subreaper", BOOL),
        F(20, "blk_sigset_extended", U64, hex=True),
        F(21, "stop_signo", U32),
        F(22, "membarrier_registration_mask", U32, hex=True),
    ]),
    M("task_kobj_ids_entry", [
        F(1, "vm_id", U32, REQ),
        F(2, "files_id", U32, REQ),
        F(3, "fs_id", U32, REQ),
        F(4, "sighand_id", U32, REQ),
        F(5, "pid_ns_id", U32),
        F(6, "net_ns_id", U32),
        F(7, "ipc_ns_id", U32),
        F(8, "uts_ns_id", U32),
        F(9, "mnt_ns_id", U32),
        F(10, "user_ns_id", U32),
        F(11, "cgroup_ns_id", U32),
        F(12, "time_ns_id", U32),
    ]),
    M("thread_sas_entry", [
        F(1, "ss_sp", U64, REQ),
        F(2, "ss_size", U64, REQ),
        F(3, "ss_flags", U32, REQ),
    ]),
    M("thread_core_entry", [
        F(1, "futex_rla", U64, REQ),
        F(2, "futex_rla_len", U32, REQ),
        F(3, "sched_nice", S32),
        F(4, "sched_policy", U32),
        F(5, "sched_prio", U32),
        F(6, "blk_sigset", U64),
        F(7, "sas", "thread_sas_entry"),
        F(8, "pdeath_sig", U32),
        F(9, "signals_p", "signal_queue_entry"),
        F(10, "creds", "creds_entry"),  # per thread since 2.0 (creds-<pid>.img before)
        F(11, "seccomp_mode", "seccomp_mode"),
        F(12, "seccomp_filter", U32),  # index into seccomp.img: the start of this thread's chain
        F(13, "comm", STRING),
        F(14, "blk_sigset_extended", U64),
        F(15, "rseq_entry", "rseq_entry"),
        F(16, "cg_set", U32),
    ]),
    M("task_rlimits_entry", [
        F(1, "rlimits", "rlimit_entry", REP),  # indexed by resource number (RLIMIT_CPU = 0 ...)
    ]),
    M("core_entry", [
        F(1, "mtype", "core_entry.march", REQ),
        F(2, "thread_info", "thread_info_x86"),
        F(6, "ti_arm", "thread_info_arm"),
        F(8, "ti_aarch64", "thread_info_aarch64"),
        F(9, "ti_ppc64", "thread_info_ppc64"),
        F(10, "ti_s390", "thread_info_s390"),
        F(11, "ti_mips", "thread_info_mips"),
        F(12, "ti_loongarch64", "thread_info_loongarch64"),
        F(13, "ti_riscv64", "thread_info_riscv64"),
        F(3, "tc", "task_core_entry"),
        F(4, "ids", "task_kobj_ids_entry"),
        F(5, "thread_core", "thread_core_entry"),
    ], [
        E("march",
           ("UNKNOWN", 0), ("X86_64", 1), ("ARM", 2), ("AARCH64", 3), ("PPC64", 4), ("S390", 5),
           ("MIPS", 6), ("LOONGARCH64", 7), ("RISCV64", 8)),
    ]),
    # creds.proto
    M("creds_entry", [
        F(1, "uid", U32, REQ),
        F(2, "gid", U32, REQ),
        F(3, "euid", U32, REQ),
        F(4, "egid", U32, REQ),
        F(5, "suid", U32, REQ),
        F(6, "sgid", U32, REQ),
        F(7, "fsuid", U32, REQ),
        F(8, "fsgid", U32, REQ),
        F(9, "cap_inh", U32, REP),  # capability sets: two u32 words each, low word first
        F(10, "cap_prm", U32, REP),
        F(11, "cap_eff", U32, REP),
        F(12, "cap_bnd", U32, REP),
        F(13, "secbits", U32, REQ),
        F(14, "groups", U32, REP),
        F(15, "lsm_profile", STRING),
        F(16, "lsm_sockcreate", STRING),
        F(17, "apparmor_data", BYTES),
        F(18, "no_new_privs", U32),
        F(19, "cap_amb", U32, REP),
    ]),
    # sa.proto
    M("sa_entry", [
        F(1, "sigaction", U64, REQ, hex=True),
        F(2, "flags", U64, REQ, hex=True),
        F(3, "restorer", U64, REQ, hex=True),
        F(4, "mask", U64, REQ, hex=True),
        F(5, "compat_sigaction", BOOL),
        F(6, "mask_extended", U64, hex=True),
    ]),
    # siginfo.proto
    M("siginfo_entry", [
        F(1, "siginfo", BYTES, REQ),
    ]),
    M("signal_queue_entry", [
        F(1, "signals", "siginfo_entry", REP),
    ]),
    # rlimit.proto
    M("rlimit_entry", [
        F(1, "cur", U64, REQ),
        F(2, "max", U64, REQ),
    ]),
    # timer.proto
    M("itimer_entry", [
        F(1, "isec", U64, REQ),
        F(2, "iusec", U64, REQ),
        F(3, "vsec", U64, REQ),
        F(4, "vusec", U64, REQ),
    ]),
    M("posix_timer_entry", [
        F(1, "it_id", U32, REQ),
        F(2, "clock_id", U32, REQ),
        F(3, "si_signo", U32, REQ),
        F(4, "it_sigev_notify", U32, REQ),
        F(5, "sival_ptr", U64, REQ),
        F(6, "overrun", U32, REQ),
        F(7, "isec", U64, REQ),
        F(8, "insec", U64, REQ),
        F(9, "vsec", U64, REQ),
        F(10, "vnsec", U64, REQ),
        F(11, "notify_thread_id", I32),
    ]),
    M("task_timers_entry", [
        F(1, "real", "itimer_entry", REQ),
        F(2, "virt", "itimer_entry", REQ),
        F(3, "prof", "itimer_entry", REQ),
        F(4, "posix", "posix_timer_entry", REP),
    ]),
    # rseq.proto
    M("rseq_entry", [
        F(1, "rseq_abi_pointer", U64, REQ),
        F(2, "rseq_abi_size", U32, REQ),
        F(3, "signature", U32, REQ),
        F(4, "rseq_cs_pointer", U64),
    ]),
    # pstree.proto
    M("pstree_entry", [
        F(1, "pid", U32, REQ),
        F(2, "ppid", U32, REQ),  # 0 for the root of the tree
        F(3, "pgid", U32, REQ),
        F(4, "sid", U32, REQ),
        F(5, "threads", U32, REP),  # every tid; each has a core-<tid>.img
    ]),
    # fs.proto
    M("fs_entry", [
        F(1, "cwd_id", U32, REQ),
        F(2, "root_id", U32, REQ),
        F(3, "umask", U32),
    ]),
)
