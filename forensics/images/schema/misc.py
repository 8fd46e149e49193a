"""Whole-dump images: inventory, stats, cpuinfo, seccomp filters, AppArmor policies, cgroups.

img_streamer messages belong to CRIU's image-streaming protocol, not to an image file; they are
declared so the schema is complete.
"""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    BYTES,
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
    # inventory.proto
    E("lsmtype", ("NO_LSM", 0), ("SELINUX", 1), ("APPARMOR", 2)),
    M("plugins_entry", [
        F(12, "plugins", STRING, REP),  # field number 12 inside its own message, as CRIU has it
    ]),
    M("inventory_entry", [
        F(1, "img_version", U32, REQ),
        F(2, "fdinfo_per_id", BOOL),
        F(3, "root_ids", "task_kobj_ids_entry"),  # CRIU's own namespace ids
        F(4, "ns_per_id", BOOL),
        F(5, "root_cg_set", U32),
        F(6, "lsmtype", "lsmtype"),
        F(8, "dump_uptime", U64),  # microseconds since boot, only with --track-mem / pre-dump
        F(9, "pre_dump_mode", U32),  # set only in pre-dump directories (1 splice, 2 read)
        F(10, "tcp_close", BOOL),
        F(11, "network_lock_method", U32),  # 0 iptables, 1 nftables, 2 skip
        F(12, "plugins_entry", "plugins_entry"),
        F(13, "dump_criu_run_id", STRING),
        F(14, "allow_uprobes", BOOL),
    ]),
    # stats.proto
    M("dump_stats_entry", [
        F(1, "freezing_time", U32, REQ),
        F(2, "frozen_time", U32, REQ),
        F(3, "memdump_time", U32, REQ),
        F(4, "memwrite_time", U32, REQ),
        F(5, "pages_scanned", U64, REQ),
        F(6, "pages_skipped_parent", U64, REQ),
        F(7, "pages_written", U64, REQ),
        F(8, "irmap_resolve", U32),
        F(9, "pages_lazy", U64, REQ),
        F(10, "page_pipes", U64),
        F(11, "page_pipe_bufs", U64),
        F(12, "shpages_scanned", U64),
        F(13, "shpages_skipped_parent", U64),
        F(14, "shpages_written", U64),
    ]),
    M("restore_stats_entry", [
        F(1, "pages_compared", U64, REQ),
        F(2, "pages_skipped_cow", U64, REQ),
        F(3, "forking_time", U32, REQ),
        F(4, "restore_time", U32, REQ),
        F(5, "pages_restored", U64),
    ]),
    M("stats_entry", [
        F(1, "dump", "dump_stats_entry"),
        F(2, "restore", "restore_stats_entry"),
    ]),
    # cpuinfo.proto
    M("cpuinfo_x86_entry", [
        F(1, "vendor_id", "cpuinfo_x86_entry.vendor", REQ),
        F(2, "cpu_family", U32, REQ),
        F(3, "model", U32, REQ),
        F(4, "stepping", U32, REQ),
        F(5, "capability_ver", U32, REQ),
        F(6, "capability", U32, REP),
        F(7, "model_id", STRING),
        F(8, "xfeatures_mask", U64),
        F(9, "xsave_size", U32),
        F(10, "xsave_size_max", U32),
    ], [
        E("vendor", ("UNKNOWN", 0), ("INTEL", 1), ("AMD", 2)),
    ]),
    M("cpuinfo_ppc64_entry", [
        F(1, "endian", "cpuinfo_ppc64_entry.endianness", REQ),
        F(2, "hwcap", U64, REP),
    ], [
        E("endianness", ("BIGENDIAN", 0), ("LITTLEENDIAN", 1)),
    ]),
    M("cpuinfo_s390_entry", [
        F(2, "hwcap", U64, REP),
    ]),
    M("cpuinfo_entry", [
        F(1, "x86_entry", "cpuinfo_x86_entry", REP),
        F(2, "ppc64_entry", "cpuinfo_ppc64_entry", REP),
        F(3, "s390_entry", "cpuinfo_s390_entry", REP),
    ]),
    # seccomp.proto
    M("seccomp_filter", [
        F(1, "filter", BYTES, REQ),
        F(2, "prev", U32),  # index of the filter installed before this one
        F(3, "flags", U32),
    ]),
    M("seccomp_entry", [
        F(1, "seccomp_filters", "seccomp_filter", REP),
    ]),
    # apparmor.proto
    M("aa_policy", [
        F(1, "name", STRING, REQ),
        F(2, "blob", BYTES, REQ),
    ]),
    M("aa_namespace", [
        F(1, "name", STRING, REQ),
        F(2, "policies", "aa_policy", REP),
        F(3, "namespaces", "aa_namespace", REP),
    ]),
    M("apparmor_entry", [
        F(1, "namespaces", "aa_namespace", REP),
    ]),
    # cgroup.proto
    M("cgroup_perms", [
        F(1, "mode", U32, REQ),
        F(2, "uid", U32, REQ),
        F(3, "gid", U32, REQ),
    ]),
    M("cgroup_prop_entry", [
        F(1, "name", STRING, REQ),
        F(2, "value", STRING, REQ),
        F(3, "perms", "cgroup_perms"),
    ]),
    M("cgroup_dir_entry", [
        F(1, "dir_name", STRING, REQ),
        F(2, "children", "cgroup_dir_entry", REP),
        F(3, "properties", "cgroup_prop_entry", REP),
        F(4, "dir_perms", "cgroup_perms"),
    ]),
    M("cg_controller_entry", [
        F(1, "cnames", STRING, REP),
        F(2, "dirs", "cgroup_dir_entry", REP),
        F(3, "is_threaded", BOOL),
    ]),
    M("cg_member_entry", [
        F(1, "name", STRING, REQ),
        F(2, "path", STRING, REQ),
        F(3, "cgns_prefix", U32),
    ]),
    M("cg_set_entry", [
        F(1, "id", U32, REQ),
        F(2, "ctls", "cg_member_entry", REP),
    ]),
    M("cgroup_entry", [
        F(1, "sets", "cg_set_entry", REP),
        F(2, "controllers", "cg_controller_entry", REP),
    ]),
    # img-streamer.proto
    M("img_streamer_request_entry", [
        F(1, "filename", STRING, REQ),
    ]),
    M("img_streamer_reply_entry", [
        F(1, "exists", BOOL, REQ),
    ]),
)
