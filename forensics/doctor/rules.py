"""Why checkpoints and restores fail: the doctor's rule table, as data.

Each `Rule` names one cause: the log lines that show it (`patterns`, one regex per line; named groups
become evidence), what happened and why (`explanation`, plain words), what to do (`fix`, where
`{name}` is filled from the evidence), lines near the first hit that carry more evidence (`context`,
searched backwards), lines anywhere that support it (`support`), and the CRIU release that fixed it
or the kernel that introduced it. `examples` are real message lines the rule must recognise; the tests
run every one of them. Message texts come from CRIU 3.17-4.2 (strings of the 4.2.1 binary, the
upstream sources and issue reports) and from the bundled real failures in samples/failures and
samples/incremental; patterns are loose where versions differ (file:line, tabs, "--%s" options).

`NOISE` is what CRIU prints on healthy runs too (never a cause), `SYMPTOMS` the consequences every
failure prints after its cause ("Dumping FAILED."), which the fallback finding skips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from forensics.doctor.grammar import LOG_PATH_PATTERNS
from forensics.doctor.model import FindingKind


@dataclass(frozen=True, slots=True)
class Rule:
    """One known cause of a failed checkpoint or restore.

    `kind`: "cause" (a root cause), "pointer" (an engine saying CRIU failed and where its log is: ranks
    below any cause) or "fallback" (no pattern: the first unexplained error line). `priority` orders
    causes found together (higher first); ties go to the earlier line.
    """

    id: str
    title: str
    patterns: tuple[str, ...]
    explanation: str
    fix: str
    context: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    kind: FindingKind = "cause"
    priority: int = 50
    fixed_in: str | None = None     # first CRIU release that handles the case
    kernel_from: str | None = None  # first kernel release where the case arises
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Noise:
    """A line CRIU prints on this kind of machine whether or not the run fails."""

    id: str
    pattern: str
    why: str
    examples: tuple[str, ...] = ()


# Context that several rules read near their first hit: "25234 fdinfo 18: pos: 0 flags: 2/0".
_FDINFO = r"(?P<pid>\d+) fdinfo (?P<fd>\d+): +pos:"

RULES: tuple[Rule, ...] = (
    Rule(
        id="docker-not-experimental",
        title="The Docker daemon is not in experimental mode",
        patterns=(r"checkpoint is only supported in experimental mode", r"only supported on a daemon with experimental"),
        explanation=("`docker checkpoint` is an experimental feature: a daemon started without --experimental "
                     "refuses it before CRIU runs. Nothing was dumped and the container kept running."),
        fix=("Start dockerd with --experimental, or put \"experimental\": true in /etc/docker/daemon.json and "
             "restart the daemon; then checkpoint again."),
        priority=95,
        examples=("Error response from daemon: checkpoint is only supported in experimental mode",),
    ),
    Rule(
        id="criu-missing",
        title="CRIU is not installed where the container engine runs",
        patterns=(r"exec: \"criu\": executable file not found in \$PATH", r"criu: (?:command )?not found",
                  r"unable to find criu", r"CRIU binary not found"),
        explanation=("The engine (Docker through runc, Podman, containerd) runs the `criu` program to checkpoint; "
                     "there is none on its PATH. Nothing was dumped; the container is unchanged."),
        fix=("Install CRIU on the host that runs the engine (Debian: apt-get install criu); kernels from 6.16 "
             "need CRIU 4.2 or newer. Then checkpoint again."),
        priority=95,
        examples=('OCI runtime checkpoint failed: exec: "criu": executable file not found in $PATH',),
    ),
    Rule(
        id="container-not-running",
        title="The container is not running",
        patterns=(
            r"container (?P<container>[0-9a-f]{12,64}|[\w.-]+) is not running",
            r"\"(?P<state>\w+)\" is not running, cannot checkpoint",
            r"\bcontainer not running\b",
            r"\bcontainer state improper\b",
        ),
        explanation=(
            "The container engine refused before CRIU ran: the container is not running (it exited, was "
            "stopped, or was already checkpointed without --leave-running). Only the processes of a "
            "running container can be checkpointed."
        ),
        fix=(
            "See its state and exit code with `docker ps -a` (`podman ps -a`) and why it stopped with "
            "`docker logs {container}`. Start it again (`docker start {container}`) and checkpoint while it "
            "runs; to resume from an earlier checkpoint instead: `docker start --checkpoint NAME "
            "{container}` (`podman container restore`)."
        ),
        priority=90,
        examples=(
            ("Error response from daemon: container a75ec3ee2eeea8b260c4734e1361348b7db57c50b387b815ea014773a8a5c864"
            " is not running"),
            "Error: \"exited\" is not running, cannot checkpoint: container state improper",
        ),
    ),
    Rule(
        id="no-such-container",
        title="No container by that name",
        patterns=(
            r"No such container: (?P<container>\S+)",
            r"no container with name or ID \"(?P<container>[^\"]+)\" found",
            r"container \"?(?P<container>[\w.-]+)\"? does not exist",
        ),
        explanation=(
            "The engine has no container with the name or id given, so nothing was checkpointed. The name "
            "is wrong, the container was removed, or it belongs to another engine or user (rootless Podman "
            "and root Podman keep separate containers)."
        ),
        fix="List containers with `docker ps -a` / `sudo podman ps -a` and use the exact name or id.",
        priority=90,
        examples=(
            "Error response from daemon: No such container: looper",
            "Error: no container with name or ID \"looper2\" found: no such container",
        ),
    ),
    Rule(
        id="tcp-established",
        title="Established TCP connection without --tcp-established",
        patterns=(
            r"Connected TCP socket, consider using --\S+ option",
            r"Connected TCP socket in image",
        ),
        context=(
            r"Searching for socket (?P<socket>0x[0-9a-f]+) family (?P<family>\d+)",
            (r"ino\s+(?P<socket>0x[0-9a-f]+) family\s+\d+ type\s+\d+ port\s+(?P<port>\d+) state\s+\d+"
            r" src_addr (?P<src_addr>\S+)"),
            _FDINFO,
        ),
        explanation=(
            "The container has an established TCP connection. Saving one means putting the socket into "
            "repair mode and recording its sequence numbers and queues without the peer noticing; CRIU only "
            "does that when asked with --tcp-established, and otherwise refuses rather than silently "
            "breaking the connection."
        ),
        fix=(
            "runc: `runc checkpoint --tcp-established ...` and `runc restore --tcp-established ...`. Podman: "
            "`podman container checkpoint --tcp-established` and `podman container restore "
            "--tcp-established`. Docker cannot pass the option, but runc reads /etc/criu/runc.conf: add a "
            "line `tcp-established` there. Or close the connection first, or use `--tcp-close` to restore it "
            "closed. The socket: fd {fd} of pid {pid}, inode {socket} (`ls -l /proc/{pid}/fd/{fd}`, "
            "`ss -tnpe`)."
        ),
        examples=(
            ("(00.011445) Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using "
            "--tcp-established option."),
            "(00.317103) Error (sk-inet.c:183): Connected TCP socket, consider using --tcp-established option.",
            "(00.020000)      1: Error (criu/sk-inet.c:1000): inet: Connected TCP socket in image",
        ),
    ),
    Rule(
        id="tcp-in-flight",
        title="TCP connections waiting in a listen queue",
        patterns=(
            r"In-flight connection \(l\) for (?P<socket>\S+)",
            r"In-flight connections can be ignored with the --",
        ),
        context=(_FDINFO,),
        explanation=(
            "A listening socket holds connections the kernel has accepted but the program has not yet "
            "taken with accept(). CRIU cannot save such half-made connections."
        ),
        fix=(
            "Dump with `--skip-in-flight` (Podman: `--tcp-skip-in-flight`; runc/Docker: a line "
            "`skip-in-flight` in /etc/criu/runc.conf); those clients will reconnect. Or checkpoint when no "
            "connection is pending."
        ),
        examples=(
            "(00.050000) Error (criu/sk-inet.c:193): inet: In-flight connection (l) for 2a4f1",
            ("(00.050001) Error (criu/sk-inet.c:194): inet: In-flight connections can be ignored with the "
            "--skip-in-flight option."),
        ),
    ),
    Rule(
        id="unsupported-fd",
        title="A file descriptor CRIU cannot dump (io_uring and the like)",
        patterns=(
            r"Can't dump file (?P<fd>\d+) of that type \[(?P<mode>[0-7]+)\] \((?P<file>.*)\)",
            r"send_fds failed \((?P<errno>-?\d+)\)",
            r"Can't retrieve FDs from socket",
        ),
        support=(
            r"Dump files \(pid: (?P<pid>\d+)\)",
            r"anon_inode:\[?(?P<kind>io_uring|[\w-]+)\]?",
        ),
        explanation=(
            "CRIU collects a task's open file descriptors by having its parasite code send them over a "
            "unix socket, and the kernel refused one of them (EINVAL, errno -22): kernels do not let "
            "io_uring instances travel that way, and CRIU cannot dump io_uring or other unsupported "
            "descriptor kinds in any case. Older CRIU names the descriptor instead: \"Can't dump file N of "
            "that type\"."
        ),
        fix=(
            "Find the descriptor on the host: `ls -l /proc/{pid}/fd | grep -E 'io_uring|anon_inode'`. Make "
            "the program close it before the checkpoint or not use it (e.g. an option to fall back from "
            "io_uring to epoll); CRIU has no option to skip a descriptor."
        ),
        examples=(
            "pie: 1: Error (criu/pie/parasite.c:588): send_fds failed (-22)",
            "(00.009680) Error (criu/parasite-syscall.c:280): Can't retrieve FDs from socket",
            ("(00.012000) Error (criu/files.c:548): Can't dump file 7 of that type [0] (anon_inode:[io_uring] "
            "anon_inode:[io_uring])"),
        ),
    ),
    Rule(
        id="fsnotify-handle",
        title="An inotify/fanotify watch CRIU cannot resolve (overlayfs)",
        patterns=(
            r"fsnotify: \s*Can't dump that handle",
            (r"fsnotify: Can't find suitable path for handle \(dev (?P<dev>0x[0-9a-f]+) ino "
            r"(?P<inode>0x[0-9a-f]+)\)"),
            r"fsnotify: .*Can't open (?:file )?handle",
        ),
        context=(
            r"Handle (?P<dev>0x[0-9a-f]+):(?P<inode>0x[0-9a-f]+) cannot be opened",
            r"fsnotify: wd: wd (?P<wd>0x[0-9a-f]+) s_dev (?P<dev>0x[0-9a-f]+) i_ino\s+(?P<inode>0x[0-9a-f]+)",
            r"Trying via mntid (?P<mnt_id>\d+) root (?P<mnt_root>\S+) ns_mountpoint @(?P<mountpoint>\S+)",
            _FDINFO,
        ),
        explanation=(
            "The program holds an inotify (or fanotify) watch. The kernel gives CRIU the watched inode only "
            "as a file handle, which CRIU must turn back into a path to save the watch; on overlayfs, the "
            "container's root filesystem, such handles cannot be opened, and CRIU's search for the path "
            "(irmap) found nothing either."
        ),
        fix=(
            "Watch a path on a volume or tmpfs instead of the overlay root (`-v`, `--tmpfs`), or remove the "
            "watch before the checkpoint. If the watched directory is known, let CRIU find it by scanning: "
            "`--irmap-scan-path DIR` (Docker/runc: a line `irmap-scan-path DIR` in /etc/criu/runc.conf). "
            "The watch: fd {fd} of pid {pid}, inode {inode} on device {dev} (`cat /proc/{pid}/fdinfo/{fd}`)."
        ),
        examples=(
            "(00.009736) Error (criu/fsnotify.c:284): fsnotify: \tCan't dump that handle",
            ("(00.030000) Error (criu/fsnotify.c:270): fsnotify: Can't find suitable path for handle "
            "(dev 0x2c ino 0x17a6e9): -2"),
        ),
    ),
    Rule(
        id="external-unix-socket",
        title="A unix socket connected outside the container",
        patterns=(
            r"External socket is used\. Consider using --ext-unix-sk",
            r"External socket found in image\. Consider using the --ext-unix-sk",
            r"Can't dump half of stream unix connection\. name: (?P<name>\S*); peer name: (?P<peer_name>\S*)",
            r"Unix socket (?P<inode>\d+) (?:without|with unreachable) peer (?P<peer>\d+)",
            r"Can't dump name-less external socket",
        ),
        context=(
            r"unix: Dumping unix socket at (?P<fd>\d+)",
            r"ino (?P<inode>\d+) peer_ino (?P<peer>\d+) family",
            _FDINFO,
        ),
        explanation=(
            "A unix socket in the container is connected to a peer outside the dumped process tree (a host "
            "daemon such as journald or dbus, the Docker socket, another container). CRIU cannot save the "
            "other end, so it refuses unless told the peer is external, and even then it cannot re-create "
            "a stream connection."
        ),
        fix=(
            "Find the peer on the host: `ss -xp | grep {peer}`. For datagram sockets dump with "
            "`--ext-unix-sk` (or `--external unix[{inode}]`; runc/Docker: a line `ext-unix-sk` in "
            "/etc/criu/runc.conf). For stream connections make the program close and reopen them around "
            "the checkpoint (e.g. log to stdout instead of /dev/log)."
        ),
        examples=(
            ("(00.020000) Error (criu/sk-unix.c:830): unix: External socket is used. Consider using "
            "--ext-unix-sk option."),
            ("(00.020001) Error (criu/sk-unix.c:917): unix: Can't dump half of stream unix connection. "
            "name: /run/app.sock; peer name: "),
            "(00.020002) Error (criu/sk-unix.c:758): unix: Unix socket 48211 without peer 48212",
        ),
    ),
    Rule(
        id="external-terminal",
        title="An external terminal (the container was started with a tty)",
        patterns=(
            r"(?P<mnt_id>\d+):\.?/?(?P<path>dev/(?:console|pts/\d*|tty\w*)) doesn't have a proper root mount",
            (r"tty: Found dangling tty with sid (?P<sid>\d+) pgid (?P<pgid>\d+) \((?P<tty>[^)]*)\) on peer fd "
            r"(?P<fd>\d+)"),
            r"Task attached to shell terminal\. Consider using --shell-job",
            r"tty: Unable to find a master for (?P<path>\S+)",
            r"tty: Don't have tty to inherit session from",
            r"tty: Only one slave external peer is allowed",
            r"tty: Too many external terminals",
        ),
        explanation=(
            "The container's standard input and output are a pseudo-terminal whose other end is held "
            "outside it (by Docker or Podman with `-t`, by your shell for a plain `criu dump`). CRIU dumps "
            "a terminal only when it sees both ends or is told the terminal is external; older stacks did "
            "not tell it, and CRIU stopped (for /dev/console: \"doesn't have a proper root mount\")."
        ),
        fix=(
            "Start the container without `-t` if it needs no terminal (`docker run -d ...`). With plain CRIU, "
            "dump and restore with `--shell-job`, or dump with `--external tty[rdev:dev]` and restore with "
            "`--inherit-fd fd[N]:tty[rdev:dev]`. Newer stacks handle it: Docker 26 with runc 1.1 and CRIU "
            "4.2 checkpoint a `docker run -t` container on this machine."
        ),
        priority=60,
        examples=(
            "(00.009376) Error (mount.c:740): mnt: 98:./dev/console doesn't have a proper root mount",
            "(00.038122) Error (mount.c:624): 145:./dev/console doesn't have a proper root mount",
            "(01.517694) Error (criu/tty.c:2230): tty: Unable to find a master for /19",
            ("(00.004000) Error (criu/tty.c:1950): tty: Found dangling tty with sid 1200 pgid 1207 (pts) on "
            "peer fd 0."),
            "(00.018051)  33670: Error: tty: Don't have tty to inherit session from, aborting",
        ),
    ),
    Rule(
        id="devpts-not-mounted",
        title="No devpts mounted where CRIU needs a terminal",
        patterns=(
            r"Can't open /dev/ptmx",
            r"Can't open (?:file )?/?(?P<path>dev/pts/\d+)(?: on restore)?: No such file",
            r"tty: Can't open (?:slave )?(?P<path>\S*(?:ptmx|pts/\d+))\b(?!.*with specified index)",
            r"tty: Can't obtain ptmx index",
            r"open /dev/ptmx: no such file or directory",
        ),
        explanation=(
            "Terminals (ptys) are opened through a devpts filesystem: /dev/ptmx and /dev/pts/N. Where CRIU "
            "runs, or in the container's mount namespace on restore, no devpts instance is mounted at "
            "/dev/pts, so the terminal cannot be opened."
        ),
        fix=(
            "Mount a private devpts instance first: `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 "
            "devpts /dev/pts` and `mount --bind /dev/pts/ptmx /dev/ptmx` (as samples/lab/enter.sh does); "
            "check with `findmnt /dev/pts`. Container engines mount one for each container: keep the "
            "/dev/pts mount in the OCI spec."
        ),
        examples=(
            "(00.000800) Error (criu/cr-check.c:1100): Can't open /dev/ptmx: No such file or directory",
            ("(00.026173)   5505: Error (files-reg.c:1273): Can't open file dev/pts/1 on restore: No such file "
            "or directory"),
        ),
    ),
    Rule(
        id="pty-index-taken",
        title="The terminal's pty number is taken where it is restored",
        patterns=(
            r"tty: Unable to open (?P<path>\S+) with specified index (?P<index>\d+)",
            r"tty: Can't open master pty (?P<tty_id>\S+) \(index (?P<index>\d+)\)",
        ),
        explanation=(
            "A pty is restored with the number it had (/dev/pts/N). CRIU restores it into the devpts "
            "instance it finds, and number N is already in use there, typically because the restore runs "
            "in the host's shared devpts instead of a fresh instance for the container."
        ),
        fix=(
            "Restore in a new mount namespace with its own devpts (`mount -t devpts -o newinstance devpts "
            "/dev/pts`; container engines do this), or close the session holding /dev/pts/{index}. For a "
            "plain shell job, `crit` can rewrite the index in tty-info.img."
        ),
        examples=(
            " 69481: Error (criu/tty.c:632): tty: Unable to open dev/pts/ptmx with specified index 3",
            "707203: Error (criu/tty.c:1074): tty: Can't open master pty 0xc (index 0)",
        ),
    ),
    Rule(
        id="external-mount",
        title="A bind mount from outside the container",
        patterns=(
            r"(?P<mnt_id>\d+):(?!\.?/?dev/(?:console|pts/|tty))\.?/?(?P<path>\S+) doesn't have a proper root mount",
            r"Mount (?P<mnt_id>\d+):(?P<path>\S+) is autodetected external mount",
            r"has unreachable sharing\. Try --enable-external-masters",
        ),
        explanation=(
            "A mount inside the container is a bind of a host path (a volume, /var/run/docker.sock, a file "
            "such as /etc/hosts) that CRIU cannot find under the container's root. Unless told the mount is "
            "external it cannot describe it in the images."
        ),
        fix=(
            "Container engines declare their bind mounts as external: checkpoint through the engine rather "
            "than plain criu. With plain CRIU: `--external mnt[/{path}]:COOKIE` on dump and `--external "
            "mnt[COOKIE]:HOSTPATH` on restore, or `--ext-mount-map auto` (with `--enable-external-sharing "
            "--enable-external-masters` for shared mounts). Or drop the bind (e.g. `-v "
            "/var/run/docker.sock:...`)."
        ),
        priority=40,
        examples=(
            "Error (criu/mount.c:736): mnt: 283:./run/docker.sock doesn't have a proper root mount",
            "Error (criu/mount.c:654): mnt: 1638:./proc/sched_debug doesn't have a proper root mount",
        ),
    ),
    Rule(
        id="mntns-root",
        title="The container's root is a chroot, not its mount namespace's root",
        patterns=(r"The root task has another root than mntns: (?P<root>\S+)",),
        support=(r"Unable to get the root file descriptor of pid (?P<pid>\d+)",),
        explanation=(
            "CRIU dumps the container's mount namespace from its root directory. The container's first "
            "process sees another root than its mount namespace has, which is what chroot(2) gives (runc "
            "with --no-pivot, or a root entered with plain chroot), and CRIU cannot describe that in the "
            "images."
        ),
        fix=(
            "Give the container a real pivot_root: do not run runc with `--no-pivot` (Docker sets it when "
            "DOCKER_RAMDISK=true), and enter any lab or build root with `unshare --mount` plus `pivot_root` "
            "instead of `chroot` (as samples/lab/enter.sh does)."
        ),
        examples=(
            "(00.156626) Error (criu/mount.c:3385): mnt: The root task has another root than mntns: /new_root",
        ),
    ),
    Rule(
        id="seccomp",
        title="CRIU cannot suspend or read the seccomp filter",
        patterns=(
            r"Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP",
            r"couldn't suspend seccomp",
            r"failed to suspend seccomp",
            r"Dumping seccomp filters not supported",
            r"seccomp: Can't (?:fetch|collect|create|dump) .*tid_real (?P<tid>\d+)",
            r"seccomp: Corrupted filter",
        ),
        explanation=(
            "The process runs under a seccomp filter (Docker's default profile, or the program's own). To "
            "inject its parasite and save the filter, CRIU suspends seccomp and reads the filters back "
            "through ptrace (PTRACE_O_SUSPEND_SECCOMP, PTRACE_SECCOMP_GET_FILTER), and this kernel, or the "
            "privileges CRIU runs with, does not allow that."
        ),
        fix=(
            "Check with `criu check --feature seccomp_suspend` and `criu check --feature seccomp_filters`: "
            "they need a kernel with CONFIG_CHECKPOINT_RESTORE=y and CONFIG_SECCOMP_FILTER=y, and CRIU "
            "running as real root. If the container needs no filter, start it without one: `docker run "
            "--security-opt seccomp=unconfined ...` (Podman: the same option)."
        ),
        examples=(
            "(00.001000) Error (criu/kerndat.c:420): Kernel doesn't support PTRACE_O_SUSPEND_SECCOMP",
            ("(00.002000) Error (criu/seccomp.c:139): seccomp: Can't fetch filter on tid_real 4242 i 0: "
            "Invalid argument"),
            "(00.002000) Error (criu/seize.c:60): Dumping seccomp filters not supported: Invalid argument",
        ),
    ),
    Rule(
        id="network-lock-iptables",
        title="Network locking failed (iptables-restore missing or refused)",
        patterns=(
            r"execvp\(\"(?P<tool>ip6?tables(?:-legacy|-nft)?-restore)\", \.\.\.\) failed",
            r"(?P<tool>ip6?tables(?:-legacy|-nft)?-restore)(?: -w)? failed",
            r"Locking network failed: (?P<tool>iptables-restore) returned (?P<status>-?\d+)",
            r"(?P<tool>ip6?tables(?:-legacy|-nft)?)-restore: (?:invalid option|not found|command not found)",
            r"Iptables configuration failed",
            r"Locking (?:network|connection) failed using nftables",
            r"Can't restore iptables dump - no legacy version present",
            r"can't open lock file /run/xtables\.lock",
        ),
        explanation=(
            "Before it freezes the container CRIU locks the container's network, so that no packet changes "
            "TCP state while it dumps; by default it does this by feeding rules to `iptables-restore` and "
            "`ip6tables-restore` on the host. The tool is missing, rejects the options CRIU passes (`-w`), "
            "or cannot take the xtables lock, so the lock, and with it the checkpoint or restore, fails."
        ),
        fix=(
            "Install the tools where CRIU runs (`apt-get install iptables`; CRIU prefers the legacy "
            "variants, `iptables-legacy-restore`, when present); check with `command -v iptables-restore "
            "ip6tables-restore`. Or lock with nftables: `--network-lock nftables` (CRIU built with "
            "libnftables; `criu check --feature network_lock_nftables`), for Docker/runc a line "
            "`network-lock nftables` in /etc/criu/runc.conf, for Podman in /etc/criu/criu.conf."
        ),
        examples=(
            "Error (criu/util.c:626): execvp(\"iptables-restore\", ...) failed: No such file or directory",
            "(00.361990)      1: Error (criu/net.c:1738): iptables-restore -w failed",
            "iptables-restore: invalid option -- 'w'",
            ("(00.030000) Error (criu/net.c:2800): net: Locking network failed: iptables-restore returned 1. "
            "This may be connected to disabled CONFIG_NETFILTER_XT_MARK kernel build config option."),
        ),
    ),
    Rule(
        id="sockopt-passcred",
        title="Kernel 6.16+ refuses SO_PASSCRED/SO_PASSSEC on inet sockets (CRIU < 4.2)",
        patterns=(r"sockets: Can't (?P<op>get|set) 1:(?P<option>16|34)\b",),
        explanation=(
            "Linux 6.16 restricted the SO_PASSCRED and SO_PASSSEC socket options (1:16 and 1:34 in the log, "
            "SOL_SOCKET:SO_PASSCRED and SOL_SOCKET:SO_PASSSEC) to unix and netlink sockets, so on an inet "
            "socket the kernel now answers \"Operation not supported\". CRIU before 4.2 reads them on every "
            "socket and gives up when the kernel refuses."
        ),
        fix=(
            "Upgrade CRIU to 4.2 or newer (`criu --version`; Debian ships it in sid/forky, or build from "
            "github.com/checkpoint-restore/criu), or run on a kernel older than 6.16."
        ),
        fixed_in="4.2",
        kernel_from="6.16",
        examples=(
            "(00.118198) Error (criu/sockets.c:628): sockets: Can't get 1:16 opt: Operation not supported",
            "Error (criu/sockets.c:640): sockets: Can't get 1:16(34) opt: Operation not supported",
        ),
    ),
    Rule(
        id="vdso-layout",
        title="New kernel vDSO layout (vvar_vclock) unknown to CRIU < 4.1",
        patterns=(
            r"vdso: Unexpected rt vDSO area bounds",
            r"vdso: Failed to fill self vdso symtable",
            r"kerndat_vdso_fill_symtable failed",
            r"vdso: Can't find vDSO/VVAR bounds",
            r"vdso: Can't find rt vDSO",
        ),
        support=(r"Could not initialize kernel features detection",),
        explanation=(
            "Kernel 6.13 split the vvar mapping in two (a new [vvar_vclock] area next to [vvar] and "
            "[vdso]). CRIU before 4.1 does not expect that layout: it cannot find the bounds of its own vDSO "
            "while probing the kernel, so every dump and restore fails before it touches the container."
        ),
        fix=(
            "Upgrade CRIU to 4.1 or newer (4.2 or newer on kernels 6.16+, see sockopt-passcred), or run on a "
            "kernel older than 6.13. `criu check` shows the same failure without a container."
        ),
        fixed_in="4.1",
        kernel_from="6.13",
        examples=(
            "(00.025701) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds",
            ("(00.025703) Error (criu/kerndat.c:1607): kerndat_vdso_fill_symtable failed when initializing "
            "kerndat."),
        ),
    ),
    Rule(
        id="dirty-tracking",
        title="No dirty-memory tracking for incremental checkpoints",
        patterns=(
            r"Tracking memory is not available",
            r"BUG at criu/mem\.c:(?P<bug_line>\d+)",
            r"Pid-reuse detection failed: no parent inventory",
            r"Can't reset (?P<pid>\d+)'s dirty memory tracker",
            r"Dirty tracking is OFF\. Memory snapshot will not work",
        ),
        support=(
            r"Enforcing memory tracking for pre-dump",
            r"Parent pre-dump inventory has no uptime",
            r"Failed to open parent pre-dump inventory image",
            r"Dirty tracking support is OFF",
        ),
        explanation=(
            "Incremental checkpoints (criu pre-dump, --track-mem, runc --parent-path, --prev-images-dir) rely "
            "on the kernel's soft-dirty page tracking (CONFIG_MEM_SOFT_DIRTY) to know which pages changed "
            "since the parent. Without it pre-dump trips an assertion in criu/mem.c and aborts, --track-mem "
            "is refused, and a dump on top of a parent made without tracking fails pid-reuse detection, "
            "because the parent's inventory lacks its uptime."
        ),
        fix=(
            "Take full checkpoints: drop pre-dump, --track-mem, --parent-path and --prev-images-dir. For "
            "incremental ones boot a kernel with CONFIG_MEM_SOFT_DIRTY=y (`grep SOFT_DIRTY "
            "/boot/config-$(uname -r)`; `criu check --feature mem_dirty_track` must pass), and make the "
            "parent with `criu pre-dump` or `criu dump --track-mem`."
        ),
        examples=(
            "(00.003997) Error (criu/mem.c:46): BUG at criu/mem.c:46",
            ("(00.008670) Error (criu/mem.c:386): Pid-reuse detection failed: no parent inventory, check "
            "warnings in get_parent_inventory"),
            "Error (criu/crtools.c:240): Tracking memory is not available. Consider omitting --track-mem option.",
        ),
    ),
    Rule(
        id="image-incompatible",
        title="Images this CRIU cannot read (other CRIU version, or damaged)",
        patterns=(
            r"Unknown magic\b",
            r"(?:Head m|\bM)agic doesn't match for (?P<image>\S+)",
            r"Too old image, no longer supported",
            r"Not supported images version (?P<images_version>\d+)",
            r"Failed unpacking object \S+ from (?P<image>\S+)",
            r"Images corrupted or too old criu was used for dump",
            r"Reached EOF unexpectedly while reading page from image",
            r"Page entry address (?P<address>[0-9a-f]+) outside of VMA",
            r"Missing (?P<address>[0-9a-f]+) in parent pagemap",
            r"Error \([^)]*image\.c:\d+\): Unexpected EOF",
        ),
        explanation=(
            "CRIU could not read the checkpoint's image files: a magic number, the image format version or "
            "a protobuf entry is not what this CRIU expects. The images were written by a CRIU release this "
            "one cannot read (much older or newer), or they were damaged or cut short when copied."
        ),
        fix=(
            "Restore with the CRIU release that dumped (the dump log's `Version:` line; `criu --version` "
            "here) or a newer one. Check the images with `forensics inspect DIR` (names the damaged file and "
            "byte offset) or `crit show DIR/inventory.img`. If the checkpoint was copied, copy it again and "
            "compare sizes and checksums."
        ),
        examples=(
            "(00.001000) Error (criu/image.c:560): Magic doesn't match for core-1.img",
            "(00.001000) Error (criu/image.c:574): Too old image, no longer supported",
            ("(00.002000)      1: Error (criu/protobuf.c:72): Failed unpacking object 0x55d3 from "
            "pagemap-1.img"),
            "crit: Unknown magic 0x12345678",
        ),
    ),
    Rule(
        id="engine-criu-failed",
        title="The engine reports that CRIU failed; the reason is in CRIU's log",
        patterns=(
            r"criu failed: type (?P<type>\w+) errno (?P<errno>\d+)",
            r"CRIU (?:checkpointing|restoring) failed (?P<code>-?\d+)",
            *LOG_PATH_PATTERNS,
        ),
        explanation=(
            "The container engine ran CRIU and CRIU failed; engines print only this summary. The reason is "
            "in CRIU's own log, at the path named here (in the runtime's work directory)."
        ),
        fix=(
            "Run `forensics doctor {log}` on that log, and copy it first: containerd and runc delete their "
            "work directory with the task. If it is gone, repeat the checkpoint and copy the log right away "
            "(`runc checkpoint --work-path DIR` keeps it in DIR)."
        ),
        kind="pointer",
        priority=10,
        examples=(
            ("Error response from daemon: Cannot checkpoint container fail-tcp: runc did not terminate "
            "successfully: exit status 1: criu failed: type NOTIFY errno 0 path= /run/containerd/"
            "io.containerd.runtime.v2.task/moby/283b5ea3/criu-dump.log: unknown"),
            ("2024-11-26T16:11:08.428787Z: CRIU checkpointing failed -52.  Please check CRIU logfile "
            "/var/lib/containers/storage/overlay-containers/2a3d/userdata/dump.log"),
        ),
    ),
)

# Not matched by pattern: built by the diagnosis from what it finds.
FALLBACK = Rule(
    id="criu-error",
    title="An error no rule recognises",
    patterns=(),
    explanation=(
        "CRIU (or the engine) stopped with an error that no rule here knows. The first error line it "
        "printed, quoted below, is usually the cause; the error lines after it are mostly consequences "
        "(\"Dump files ... failed\", \"Dumping FAILED.\")."
    ),
    fix=(
        "Search for the quoted message in CRIU's issues (github.com/checkpoint-restore/criu/issues) and read "
        "the log just before line {line}. `criu check --all` lists kernel features this machine lacks."
    ),
    kind="fallback",
    priority=0,
)

IMAGES_INCOMPLETE = Rule(
    id="images-incomplete",
    title="The image directory is incomplete",
    patterns=(),
    explanation=(
        "The directory holds task images but no inventory.img. CRIU writes inventory.img last, after every "
        "task was dumped, so this dump did not finish (it failed or was interrupted), or files were lost "
        "when the checkpoint was copied."
    ),
    fix=(
        "Find the dump's log (dump.log in the image or work directory, or the path the engine's error names) "
        "and run `forensics doctor` on it; then take the checkpoint again."
    ),
    priority=20,
)

ALL_RULES: tuple[Rule, ...] = (*RULES, FALLBACK, IMAGES_INCOMPLETE)
BY_ID: dict[str, Rule] = {r.id: r for r in ALL_RULES}

NOISE: tuple[Noise, ...] = (
    Noise("rlimit-nofile", r"rlimit: Can't setup RLIMIT_NOFILE for self",
          "CRIU tries to raise its own open-file limit and is not allowed to here; it carries on with the "
          "current limit.",
          (("(00.000872) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not "
           "permitted"),)),
    Noise("tun-unavailable", r"tun: Unable to create tun",
          "CRIU probes /dev/net/tun when it starts; without it only containers with tun/tap devices are "
          "affected.",
          ("Error (criu/tun.c:85): tun: Unable to create tun: No such file or directory",)),
    Noise("irmap-hint-missing", r"irmap: Can't stat ",
          "CRIU checks a fixed list of hint directories when it resolves inotify watches; missing ones are "
          "skipped.",
          ("(00.009601) Warn  (criu/irmap.c:105): irmap: Can't stat /var/spool: No such file or directory",)),
    Noise("pagemap-scan-guard", r"PAGEMAP_SCAN\) doesn't support PAGE_IS_GUARD",
          "Only processes that use madvise(MADV_GUARD_INSTALL) are affected.", ()),
    Noise("interrupted-syscall", r"Will restore \d+ with interrupted system call",
          "The task was inside a system call; it is restarted after the restore.", ()),
    Noise("iptables-legacy-missing", r"Couldn't find ip6?tables version which is using iptables legacy API",
          "A probe for iptables-legacy; it matters only if network locking then fails.", ()),
    Noise("cgroupns-unsupported", r"cgroupns not supported\. This is not fatal",
          "CRIU says so itself.", ()),
    Noise("pidfd-store-unsupported", r"Pidfd store requires pidfd_\w+ syscall",
          "Used only by pre-dumps through the RPC pidfd store.", ()),
    Noise("kdat-stale", r"Stale /run/criu\S*\.kdat file",
          "CRIU's cache of kernel features is rebuilt.", ()),
    Noise("no-home-config", r"Unable to get \$HOME directory, local configuration file will not be used",
          "Only the per-user CRIU configuration is skipped.", ()),
)

# Lines every failure prints after its cause; the fallback quotes the first error line that is none of
# these (and no noise), so it lands on the cause, not on "Dumping FAILED.".
SYMPTOMS: tuple[str, ...] = (
    r"Dump(?:ing)? files \(pid: \d+\) failed",
    r"(?:Pre-)?[Dd]umping FAILED",
    r"Restoring FAILED",
    r"Message reply from daemon is trimmed",
    r"Can't dump page with parasite",
    r"Collect mappings \(pid: \d+\) failed",
    r"Unable to open fd=\d+ id=",
    r"killed by signal",
    r"exited, status=",
    r"Can't wait or bad status",
    r"Failed to switch restore stage",
    r"Could not initialize kernel features detection",
    r"Restorer fail",
    r"Dumping pages? failed",
    r"One of more action scripts failed",
)


@cache
def compiled(pattern: str) -> re.Pattern[str]:
    """Every pattern of the table, compiled once."""
    return re.compile(pattern)


def check_table() -> list[str]:
    """Problems in the table itself (duplicate ids, bad regexes, examples no pattern of theirs matches);
    the tests require an empty list."""
    problems: list[str] = []
    seen: set[str] = set()
    for rule in ALL_RULES:
        if rule.id in seen:
            problems.append(f"duplicate rule id {rule.id}")
        seen.add(rule.id)
        for p in (*rule.patterns, *rule.context, *rule.support):
            try:
                compiled(p)
            except re.error as exc:
                problems.append(f"{rule.id}: bad regex {p!r}: {exc}")
        for p in (*rule.patterns, *rule.support):
            if not literal_of(p):
                problems.append(f"{rule.id}: pattern {p!r} has no literal of 3+ characters (the scan's gate)")
        for ex in rule.examples:
            if not any(compiled(p).search(ex) for p in rule.patterns):
                problems.append(f"{rule.id}: no pattern matches its example {ex!r}")
    for noise in NOISE:
        if not literal_of(noise.pattern):
            problems.append(f"{noise.id}: pattern has no literal of 3+ characters (the scan's gate)")
        if noise.id in seen:
            problems.append(f"duplicate id {noise.id}")
        seen.add(noise.id)
        for ex in noise.examples:
            if not compiled(noise.pattern).search(ex):
                problems.append(f"{noise.id}: pattern does not match its example {ex!r}")
    return problems


_BREAKING_ESCAPES = set("dDwWsSbBAZ0123456789")


@cache
def literal_of(pattern: str) -> str:
    """The longest run of plain characters every match of `pattern` must contain ("" if there is none
    worth using), so that a line can be skipped with `in` before the regex runs. Conservative: only the
    top level counts; groups, classes, wildcards and quantified characters end a run, and a top-level
    alternation gives no literal at all."""
    runs: list[str] = []
    run: list[str] = []
    depth, i, n = 0, 0, len(pattern)

    def end() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            i += 2
            if depth == 0 and nxt not in _BREAKING_ESCAPES and nxt.isascii() and not nxt.isalpha():
                run.append(nxt)
                continue
            if depth == 0 and nxt in "tn":
                run.append("\t" if nxt == "t" else "\n")
                continue
            end()
            continue
        if c == "[":
            end()
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            end()
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|":
            if depth == 0:
                return ""
        elif c in "?*{":
            if run:
                run.pop()
            end()
            if c == "{":
                i = pattern.find("}", i)
                if i < 0:
                    return ""
        elif c == "+" or c in ".^$":
            end()
        elif depth == 0:
            run.append(c)
        i += 1
    end()
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else ""


def explain(text: str) -> Rule | None:
    """The highest-priority cause whose pattern occurs in an engine's error text (for `capture`, which has
    the text in hand rather than a log file)."""
    hits = [r for r in RULES if r.kind == "cause" and any(compiled(p).search(text) for p in r.patterns)]
    return max(hits, key=lambda r: r.priority, default=None)
