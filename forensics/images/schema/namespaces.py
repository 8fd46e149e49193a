"""Namespaces other than mount: uts, user, ipc, pid, time and net (devices and sysctls)."""

from __future__ import annotations

from forensics.images.schema.declare import (
    BOOL,
    BYTES,
    I32,
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
    # utsns.proto
    M("utsns_entry", [
        F(1, "nodename", STRING, REQ),
        F(2, "domainname", STRING, REQ),
    ]),
    # userns.proto
    M("uid_gid_extent", [
        F(1, "first", U32, REQ),
        F(2, "lower_first", U32, REQ),
        F(3, "count", U32, REQ),
    ]),
    M("userns_entry", [
        F(1, "uid_map", "uid_gid_extent", REP),
        F(2, "gid_map", "uid_gid_extent", REP),
    ]),
    # ipc-desc.proto
    M("ipc_desc_entry", [
        F(1, "key", U32, REQ),
        F(2, "uid", U32, REQ),
        F(3, "gid", U32, REQ),
        F(4, "cuid", U32, REQ),
        F(5, "cgid", U32, REQ),
        F(6, "mode", U32, REQ),
        F(7, "id", U32, REQ),
    ]),
    # ipc-var.proto
    M("ipc_var_entry", [
        F(1, "sem_ctls", U32, REP),
        F(2, "msg_ctlmax", U32, REQ),
        F(3, "msg_ctlmnb", U32, REQ),
        F(4, "msg_ctlmni", U32, REQ),
        F(5, "auto_msgmni", U32, REQ),
        F(6, "shm_ctlmax", U64, REQ),
        F(7, "shm_ctlall", U64, REQ),
        F(8, "shm_ctlmni", U32, REQ),
        F(9, "shm_rmid_forced", U32, REQ),
        F(10, "mq_queues_max", U32, REQ),
        F(11, "mq_msg_max", U32, REQ),
        F(12, "mq_msgsize_max", U32, REQ),
        F(13, "mq_msg_default", U32),
        F(14, "mq_msgsize_default", U32),
        F(15, "msg_next_id", U32),
        F(16, "sem_next_id", U32),
        F(17, "shm_next_id", U32),
    ]),
    # ipc-shm.proto
    M("ipc_shm_entry", [
        F(1, "desc", "ipc_desc_entry", REQ),
        F(2, "size", U64, REQ),
        F(3, "in_pagemaps", BOOL),
        F(4, "hugetlb_flag", U32),
    ]),
    # ipc-msg.proto
    M("ipc_msg", [
        F(1, "mtype", U64, REQ),
        F(2, "msize", U32, REQ),
    ]),
    M("ipc_msg_entry", [
        F(1, "desc", "ipc_desc_entry", REQ),
        F(2, "qbytes", U32, REQ),
        F(3, "qnum", U32, REQ),
    ]),
    # ipc-sem.proto
    M("ipc_sem_entry", [
        F(1, "desc", "ipc_desc_entry", REQ),
        F(2, "nsems", U32, REQ),
    ]),
    # pidns.proto
    M("pidns_entry", [
        F(1, "ext_key", STRING),
    ]),
    # timens.proto
    M("timespec", [
        F(1, "tv_sec", U64, REQ),
        F(2, "tv_nsec", U64, REQ),
    ]),
    M("timens_entry", [
        F(1, "monotonic", "timespec", REQ),
        F(2, "boottime", "timespec", REQ),
    ]),
    # netdev.proto
    E("nd_type",
        ("LOOPBACK", 1), ("VETH", 2), ("TUN", 3), ("EXTLINK", 4), ("VENET", 5), ("BRIDGE", 6),
        ("MACVLAN", 7), ("SIT", 8)),
    M("net_device_entry", [
        F(1, "type", "nd_type", REQ),
        F(2, "ifindex", U32, REQ),
        F(3, "mtu", U32, REQ),
        F(4, "flags", U32, REQ, hex=True),
        F(5, "name", STRING, REQ),
        F(6, "tun", "tun_link_entry"),
        F(7, "address", BYTES),
        F(8, "conf", I32, REP),
        F(9, "conf4", "sysctl_entry", REP),
        F(10, "conf6", "sysctl_entry", REP),
        F(11, "macvlan", "macvlan_link_entry"),
        F(12, "peer_ifindex", U32),
        F(13, "peer_nsid", U32),
        F(14, "master", U32),
        F(15, "sit", "sit_entry"),
    ]),
    M("netns_id", [
        F(1, "target_ns_id", U32, REQ),
        F(2, "netnsid_value", I32, REQ),
    ]),
    M("netns_entry", [
        F(1, "def_conf", I32, REP),
        F(2, "all_conf", I32, REP),
        F(3, "def_conf4", "sysctl_entry", REP),
        F(4, "all_conf4", "sysctl_entry", REP),
        F(5, "def_conf6", "sysctl_entry", REP),
        F(6, "all_conf6", "sysctl_entry", REP),
        F(7, "nsids", "netns_id", REP),
        F(8, "ext_key", STRING),
        F(9, "unix_conf", "sysctl_entry", REP),
        F(10, "ipv4_sysctl", "sysctl_entry", REP),
    ]),
    # sysctl.proto
    E("SysctlType", ("CTL_STR", 5), ("CTL_32", 6)),
    M("sysctl_entry", [
        F(1, "type", "SysctlType", REQ),
        F(2, "iarg", I32),
        F(3, "sarg", STRING),
    ]),
    # macvlan.proto
    M("macvlan_link_entry", [
        F(1, "mode", U32, REQ),
        F(2, "flags", U32),
    ]),
    # sit.proto
    M("sit_entry", [
        F(1, "link", U32),
        F(2, "local", U32, REP, ipadd=True),
        F(3, "remote", U32, REP, ipadd=True),
        F(4, "ttl", U32),
        F(5, "tos", U32),
        F(6, "pmtudisc", BOOL),
        F(7, "proto", U32),
        F(8, "flags", U32),
        F(9, "encap_type", U32),
        F(10, "encap_flags", U32),
        F(11, "encap_sport", U32),
        F(12, "encap_dport", U32),
        F(13, "rd_prefixlen", U32),
        F(14, "rd_prefix", U32, REP, ipadd=True),
        F(15, "relay_prefixlen", U32),
        F(16, "relay_prefix", U32, REP, ipadd=True),
    ]),
)
