/*
 * service.c - the lab's checkpoint target for checkpoint-forensics.
 *
 * A small, perfectly idle program that holds one of everything a CRIU checkpoint has to describe:
 * several threads blocked in known system calls, a forked child, a MAP_SHARED page shared with that
 * child, a memfd mapping, a shared file mapping, an anonymous mapping, a heap secret, and file
 * descriptors of many kinds at fixed numbers.  It reports the exact facts (pids, tids, counter values,
 * addresses) as one JSON line at start-up and on the `state` control command, so tests can compare a
 * decoded checkpoint with what the program itself knows.
 *
 * Build:  gcc -static -O1 -g -fno-omit-frame-pointer -pthread -Wall -Wextra -o service service.c
 * Run:    service [--port 8080] [--dir /tmp] [--watch /dev/shm] [--io-uring]
 *
 * See README.md next to this file for the fd table and the control protocol.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif

/* ------------------------------------------------------------------ facts the tests look for */

volatile uint64_t request_counter;           /* .bss, starts 0 */
volatile uint32_t tick_counter;              /* .bss, starts 0 */
volatile char last_command[32];              /* .bss, starts "" */
char *heap_secret;                           /* -> malloc(64) holding HEAP_SECRET */
uint64_t *shared_counter;                    /* -> anonymous MAP_SHARED page, shared with the child */
const char magic_banner[] = "checkpoint-forensics service v1";
void *anon_region;                           /* -> 64 KiB anonymous private mapping */
void *memfd_region;                          /* -> MAP_SHARED mapping of the memfd (fd 16) */
void *file_region;                           /* -> MAP_SHARED mapping of <dir>/svc.data (fd 17) */

#define HEAP_SECRET "CF-HEAP-SECRET-5f2a9c71d3e84b06"
#define CHILD_MESSAGE "queued-from-child\n"   /* 18 bytes */
#define PIPE_MESSAGE "hello pipe\n"           /* 11 bytes */
#define CLIENT_MESSAGE "ping-from-client\n"   /* 17 bytes */
#define MEMFD_CONTENT "MEMFD-CONTENT-0001"
#define FILE_CONTENT "SHARED-FILE-MAP"
#define ANON_MARKER "ANON-MMAP-MARKER"

#define MEMFD_SIZE 8192
#define DATA_SIZE 16384
#define ANON_SIZE (64 * 1024)
#define SLEEP_SECONDS 3600

/* Fixed descriptor numbers of the main process. */
enum {
    FD_TCP_LISTEN = 3,
    FD_UNIX_LISTEN = 4,
    FD_SOCKPAIR = 5,
    FD_PIPE_R = 6,
    FD_PIPE_W = 7,
    FD_READER_PIPE_R = 8,
    FD_READER_PIPE_W = 9,
    FD_EVENTFD = 10,
    FD_LOG = 11,
    FD_EPOLL = 12,
    FD_SIGNALFD = 13,
    FD_TIMERFD = 14,
    FD_INOTIFY = 15,
    FD_MEMFD = 16,
    FD_DATA = 17,
    FD_TCP_CLIENT = 18,
    FD_TCP_SERVER = 19,
    FD_IO_URING = 20, /* only with --io-uring */
};

/* Fixed descriptor numbers of the child. */
enum {
    CHILD_FD_SOCKPAIR = 3,
    CHILD_FD_PIPE_R = 4,
    CHILD_FD_PIPE_W = 5,
};

/* ------------------------------------------------------------------ private state */

static pid_t child_pid;
static pid_t main_tid, worker_tid, reader_tid, sleeper_tid;
static int port = 8080;
static const char *dir = "/tmp";
/* The inotify watch: on a tmpfs by default, because CRIU cannot make a file handle for an overlayfs
 * directory ("fsnotify: Can't dump that handle"); --watch /tmp provokes exactly that failure. */
static const char *watch_dir = "/dev/shm";
static int want_io_uring;
static int connected;

static pthread_mutex_t work_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;  /* main -> worker */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;  /* worker -> main */
static uint64_t work_requested;  /* guarded by work_mu */
static uint64_t work_seen;       /* guarded by work_mu */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;

/* ------------------------------------------------------------------ helpers */

static void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    fputs("service: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (saved)
        fprintf(stderr, ": %s", strerror(saved));
    fputc('\n', stderr);
    fflush(stderr);
    if (child_pid > 0 && getpid() != child_pid)
        kill(child_pid, SIGKILL);
    exit(1);
}

/* Move a fresh descriptor out of the way (to >= 100) so fixed numbers never collide. */
static int to_high(int fd, const char *what)
{
    if (fd < 0)
        fatal("%s", what);
    int high = fcntl(fd, F_DUPFD, 100);
    if (high < 0)
        fatal("F_DUPFD for %s", what);
    close(fd);
    return high;
}

/* Put a descriptor at its fixed number and close the temporary. */
static void place(int fd, int target, const char *what)
{
    if (fd == target)
        return;
    if (dup2(fd, target) != target)
        fatal("dup2 %s to fd %d", what, target);
    close(fd);
}

static void write_all(int fd, const void *buf, size_t len, const char *what)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fatal("write %s", what);
        p += n;
        len -= (size_t)n;
    }
}

static void path_in_dir(char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        fatal("path %s/%s", dir, name);
    }
}

/* Number of the system call a task is blocked in, from /proc; -1 if running, -2 if unreadable. */
static long blocked_syscall(const char *path)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -2;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -2;
    buf[n] = '\0';
    char *end;
    long nr = strtol(buf, &end, 10);
    if (end == buf)
        return -1; /* "running" */
    return nr;
}

/* Wait (at most 5 s) until a task sits in the expected system call, so READY means "idle". */
static void wait_blocked(pid_t pid, pid_t tid, long nr, const char *who)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 5000; i++) {
        long cur = blocked_syscall(path);
        if (cur == nr)
            return;
        if (cur == -2 && i >= 50)
            return; /* no /proc to ask: 50 ms of grace is all we can do */
        nanosleep(&ms, NULL);
    }
    errno = 0;
    fatal("%s (tid %d) did not block in system call %ld", who, (int)tid, nr);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ child */

static void child_main(int sp, int pr, int pw) __attribute__((noreturn));

static void child_main(int sp, int pr, int pw)
{
    if (prctl(PR_SET_NAME, "svc-child", 0, 0, 0) != 0)
        fatal("child: PR_SET_NAME");
    place(sp, CHILD_FD_SOCKPAIR, "child socketpair end");
    place(pr, CHILD_FD_PIPE_R, "child pipe read end");
    /* The child keeps the write end too, so the read below never sees EOF and nobody writes. */
    place(pw, CHILD_FD_PIPE_W, "child pipe write end");
    write_all(CHILD_FD_SOCKPAIR, CHILD_MESSAGE, strlen(CHILD_MESSAGE), "child socketpair");
    char c;
    for (;;) {
        ssize_t n = read(CHILD_FD_PIPE_R, &c, 1);
        if (n < 0 && errno != EINTR)
            fatal("child: read");
        if (n == 0) {
            errno = 0;
            fatal("child: unexpected EOF");
        }
    }
}

/* ------------------------------------------------------------------ threads */

static void announce(pid_t *slot)
{
    pthread_mutex_lock(&start_mu);
    *slot = gettid();
    pthread_cond_broadcast(&start_cv);
    pthread_mutex_unlock(&start_mu);
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "svc-worker");
    pthread_mutex_lock(&work_mu);
    announce(&worker_tid);
    for (;;) {
        while (work_seen == work_requested)
            pthread_cond_wait(&work_cv, &work_mu);
        work_seen = work_requested;
        tick_counter = tick_counter + 1;
        pthread_cond_broadcast(&done_cv);
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "svc-reader");
    announce(&reader_tid);
    char c;
    for (;;) {
        ssize_t n = read(FD_READER_PIPE_R, &c, 1);
        if (n < 0 && errno != EINTR)
            fatal("svc-reader: read");
        if (n == 0) {
            errno = 0;
            fatal("svc-reader: unexpected EOF");
        }
    }
    return NULL;
}

static void *sleeper_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "svc-sleeper");
    announce(&sleeper_tid);
    /* An absolute deadline: a ptrace interruption (CRIU) restarts the same clock_nanosleep instead of
     * turning it into restart_syscall, so the thread looks the same before and after a dump. */
    struct timespec deadline;
    if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
        fatal("clock_gettime");
    for (;;) {
        deadline.tv_sec += SLEEP_SECONDS;
        int rc;
        while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL)) == EINTR)
            ;
        if (rc != 0) {
            errno = rc;
            fatal("clock_nanosleep");
        }
    }
    return NULL;
}

static void start_thread(void *(*fn)(void *), pid_t *slot, const char *name)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, NULL);
    if (rc != 0) {
        errno = rc;
        fatal("pthread_create %s", name);
    }
    pthread_mutex_lock(&start_mu);
    while (*slot == 0)
        pthread_cond_wait(&start_cv, &start_mu);
    pthread_mutex_unlock(&start_mu);
}

/* ------------------------------------------------------------------ state */

static int state_json(char *out, size_t size)
{
    char cmd[sizeof last_command + 1];
    for (size_t i = 0; i < sizeof last_command; i++)
        cmd[i] = last_command[i];
    cmd[sizeof last_command] = '\0';
    /* last_command only ever holds "add <digits>", but keep the JSON valid whatever it holds. */
    char esc[sizeof cmd * 6];
    size_t j = 0;
    for (size_t i = 0; cmd[i]; i++) {
        unsigned char c = (unsigned char)cmd[i];
        if (c == '"' || c == '\\')
            j += (size_t)sprintf(esc + j, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            j += (size_t)sprintf(esc + j, "\\u%04x", c);
        else
            esc[j++] = (char)c;
    }
    esc[j] = '\0';
    return snprintf(out, size,
        "{\"pid\":%d,"
        "\"tids\":{\"service\":%d,\"svc-worker\":%d,\"svc-reader\":%d,\"svc-sleeper\":%d},"
        "\"child_pid\":%d,"
        "\"request_counter\":%" PRIu64 ",\"tick_counter\":%" PRIu32 ",\"shared_counter\":%" PRIu64 ","
        "\"last_command\":\"%s\","
        "\"addr\":{\"request_counter\":%" PRIuPTR ",\"tick_counter\":%" PRIuPTR
        ",\"last_command\":%" PRIuPTR ",\"heap_secret\":%" PRIuPTR ",\"shared_counter\":%" PRIuPTR
        ",\"anon_region\":%" PRIuPTR ",\"magic_banner\":%" PRIuPTR ",\"memfd_region\":%" PRIuPTR
        ",\"file_region\":%" PRIuPTR "}}",
        (int)getpid(), (int)main_tid, (int)worker_tid, (int)reader_tid, (int)sleeper_tid,
        (int)child_pid,
        (uint64_t)request_counter, (uint32_t)tick_counter, *(volatile uint64_t *)shared_counter,
        esc,
        (uintptr_t)&request_counter, (uintptr_t)&tick_counter, (uintptr_t)last_command,
        (uintptr_t)heap_secret, (uintptr_t)shared_counter, (uintptr_t)anon_region,
        (uintptr_t)magic_banner, (uintptr_t)memfd_region, (uintptr_t)file_region);
}

/* ------------------------------------------------------------------ set-up */

static void setup_listeners(void)
{
    int one = 1;
    int s = to_high(socket(AF_INET, SOCK_STREAM, 0), "socket AF_INET");
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        fatal("SO_REUSEADDR");
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sin, sizeof sin) != 0)
        fatal("bind 127.0.0.1:%d", port);
    if (listen(s, 16) != 0)
        fatal("listen tcp");
    place(s, FD_TCP_LISTEN, "tcp listener");

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    path_in_dir(sun.sun_path, sizeof sun.sun_path, "svc.sock");
    if (unlink(sun.sun_path) != 0 && errno != ENOENT)
        fatal("unlink %s", sun.sun_path);
    int u = to_high(socket(AF_UNIX, SOCK_STREAM, 0), "socket AF_UNIX");
    if (bind(u, (struct sockaddr *)&sun, sizeof sun) != 0)
        fatal("bind %s", sun.sun_path);
    if (listen(u, 16) != 0)
        fatal("listen unix");
    place(u, FD_UNIX_LISTEN, "unix listener");
}

static void setup_pipes(void)
{
    int p[2];
    if (pipe(p) != 0)
        fatal("pipe");
    int r = to_high(p[0], "pipe"), w = to_high(p[1], "pipe");
    write_all(w, PIPE_MESSAGE, strlen(PIPE_MESSAGE), "pipe");
    place(r, FD_PIPE_R, "pipe read end");
    place(w, FD_PIPE_W, "pipe write end");

    if (pipe(p) != 0)
        fatal("pipe");
    r = to_high(p[0], "pipe");
    w = to_high(p[1], "pipe");
    place(r, FD_READER_PIPE_R, "reader pipe read end");
    place(w, FD_READER_PIPE_W, "reader pipe write end");
}

static void setup_files_and_maps(int *log_fd, int *data_fd)
{
    char path[4096];

    /* Both files are created before the inotify watch exists, so no event is ever queued on it. */
    path_in_dir(path, sizeof path, "svc.log");
    int lf = to_high(open(path, O_WRONLY | O_CREAT | O_APPEND, 0644), path);
    if (ftruncate(lf, 0) != 0) /* a fresh log every run: the content is deterministic */
        fatal("ftruncate %s", path);
    *log_fd = lf;

    path_in_dir(path, sizeof path, "svc.data");
    int df = to_high(open(path, O_RDWR | O_CREAT, 0644), path);
    if (ftruncate(df, 0) != 0 || ftruncate(df, DATA_SIZE) != 0)
        fatal("ftruncate %s", path);
    file_region = mmap(NULL, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, df, 0);
    if (file_region == MAP_FAILED)
        fatal("mmap %s", path);
    memcpy(file_region, FILE_CONTENT, strlen(FILE_CONTENT));
    *data_fd = df;

    anon_region = mmap(NULL, ANON_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon_region == MAP_FAILED)
        fatal("mmap anonymous");
    memcpy(anon_region, ANON_MARKER, strlen(ANON_MARKER));
}

static void setup_special_fds(int log_fd, int data_fd)
{
    place(to_high(eventfd(42, EFD_NONBLOCK), "eventfd"), FD_EVENTFD, "eventfd");

    place(log_fd, FD_LOG, "log");
    write_all(FD_LOG, "start\n", 6, "log");

    int ep = to_high(epoll_create1(0), "epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = FD_TCP_LISTEN;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, FD_TCP_LISTEN, &ev) != 0)
        fatal("epoll_ctl fd 3");
    ev.data.u64 = FD_UNIX_LISTEN;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, FD_UNIX_LISTEN, &ev) != 0)
        fatal("epoll_ctl fd 4");
    place(ep, FD_EPOLL, "epoll");

    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    place(to_high(signalfd(-1, &usr2, 0), "signalfd"), FD_SIGNALFD, "signalfd");

    int tf = to_high(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd_create");
    struct itimerspec its = {.it_interval = {SLEEP_SECONDS, 0}, .it_value = {SLEEP_SECONDS, 0}};
    if (timerfd_settime(tf, 0, &its, NULL) != 0)
        fatal("timerfd_settime");
    place(tf, FD_TIMERFD, "timerfd");

    int in = to_high(inotify_init(), "inotify_init");
    if (inotify_add_watch(in, watch_dir, IN_CREATE | IN_DELETE) < 0)
        fatal("inotify_add_watch %s", watch_dir);
    place(in, FD_INOTIFY, "inotify");

    int mf = to_high(memfd_create("svc-memfd", 0), "memfd_create");
    if (ftruncate(mf, MEMFD_SIZE) != 0)
        fatal("ftruncate memfd");
    write_all(mf, MEMFD_CONTENT, strlen(MEMFD_CONTENT), "memfd");
    place(mf, FD_MEMFD, "memfd");
    memfd_region = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, FD_MEMFD, 0);
    if (memfd_region == MAP_FAILED)
        fatal("mmap memfd");

    place(data_fd, FD_DATA, "svc.data");

    if (want_io_uring) {
        /* struct io_uring_params is 120 bytes; all zero asks for defaults (no liburing needed). */
        uint64_t params[15];
        memset(params, 0, sizeof params);
        int ur = (int)syscall(__NR_io_uring_setup, 8, params);
        place(to_high(ur, "io_uring_setup"), FD_IO_URING, "io_uring");
    }
}

/* ------------------------------------------------------------------ control protocol */

static void reply(int c, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = send(c, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the client went away; nothing to keep */
        text += n;
        len -= (size_t)n;
    }
}

static void cmd_add(int c, uint64_t n)
{
    request_counter = request_counter + n;

    pthread_mutex_lock(&work_mu);
    uint32_t want = tick_counter + 1;
    work_requested++;
    pthread_cond_signal(&work_cv);
    while (tick_counter != want)
        pthread_cond_wait(&done_cv, &work_mu);
    pthread_mutex_unlock(&work_mu);
    wait_blocked(getpid(), worker_tid, SYS_futex, "svc-worker");

    char text[sizeof last_command];
    memset(text, 0, sizeof text);
    snprintf(text, sizeof text, "add %" PRIu64, n);
    for (size_t i = 0; i < sizeof last_command; i++)
        last_command[i] = text[i];

    char line[96];
    snprintf(line, sizeof line, "add %" PRIu64 " -> request_counter=%" PRIu64 "\n", n,
             (uint64_t)request_counter);
    write_all(FD_LOG, line, strlen(line), "log");

    snprintf(line, sizeof line, "ok request_counter=%" PRIu64 " tick_counter=%" PRIu32 "\n",
             (uint64_t)request_counter, (uint32_t)tick_counter);
    reply(c, line);
}

static void cmd_shared(int c, uint64_t n)
{
    volatile uint64_t *p = shared_counter;
    *p = *p + n;
    char line[64];
    snprintf(line, sizeof line, "ok shared_counter=%" PRIu64 "\n", *p);
    reply(c, line);
}

static void cmd_connect(int c)
{
    if (connected) {
        reply(c, "err already\n");
        return;
    }
    int cl = to_high(socket(AF_INET, SOCK_STREAM, 0), "socket for connect");
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(cl, (struct sockaddr *)&sin, sizeof sin) != 0)
        fatal("connect 127.0.0.1:%d", port);
    /* The handshake is done in the kernel; the connection waits in the listener's backlog. */
    int sv;
    do
        sv = accept(FD_TCP_LISTEN, NULL, NULL);
    while (sv < 0 && (errno == EINTR || errno == ECONNABORTED));
    sv = to_high(sv, "accept for connect");

    struct sockaddr_in a, b;
    socklen_t al = sizeof a, bl = sizeof b;
    if (getsockname(cl, (struct sockaddr *)&a, &al) != 0 || getpeername(sv, (struct sockaddr *)&b, &bl) != 0)
        fatal("getsockname/getpeername");
    if (a.sin_port != b.sin_port) {
        /* Another control client was queued ahead of ours: give up on this attempt cleanly. */
        close(cl);
        close(sv);
        reply(c, "err busy\n");
        return;
    }
    place(cl, FD_TCP_CLIENT, "tcp client end");
    place(sv, FD_TCP_SERVER, "tcp server end");
    write_all(FD_TCP_CLIENT, CLIENT_MESSAGE, strlen(CLIENT_MESSAGE), "tcp client end");
    connected = 1;
    reply(c, "ok\n");
}

static void handle(int c)
{
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    char buf[129];
    size_t len = 0;
    while (len < 128) {
        ssize_t n = recv(c, buf + len, 128 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';

    uint64_t n;
    if (strncmp(buf, "add ", 4) == 0) {
        if (parse_u64(buf + 4, &n) != 0)
            reply(c, "err bad number\n");
        else
            cmd_add(c, n);
    } else if (strncmp(buf, "shared ", 7) == 0) {
        if (parse_u64(buf + 7, &n) != 0)
            reply(c, "err bad number\n");
        else
            cmd_shared(c, n);
    } else if (strcmp(buf, "connect") == 0) {
        cmd_connect(c);
    } else if (strcmp(buf, "state") == 0) {
        char json[2048];
        int jl = state_json(json, sizeof json - 1);
        if (jl < 0 || (size_t)jl >= sizeof json - 1) {
            errno = 0;
            fatal("state JSON too long");
        }
        json[jl] = '\n';
        json[jl + 1] = '\0';
        reply(c, json);
    } else {
        reply(c, "err unknown command\n");
    }
}

/* ------------------------------------------------------------------ main */

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
    fprintf(stderr, "usage: service [--port 8080] [--dir /tmp] [--watch /dev/shm] [--io-uring]\n");
    exit(1);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p <= 0 || p > 65535)
                usage();
            port = (int)p;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--watch") == 0 && i + 1 < argc) {
            watch_dir = argv[++i];
        } else if (strcmp(argv[i], "--io-uring") == 0) {
            want_io_uring = 1;
        } else {
            usage();
        }
    }

    /* SIGUSR2 is blocked before the fork and before any thread, so every task inherits it. */
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &usr2, NULL) != 0)
        fatal("sigprocmask");

    if (pthread_setname_np(pthread_self(), "service") != 0)
        fatal("pthread_setname_np service");
    main_tid = gettid();

    heap_secret = malloc(64);
    if (!heap_secret)
        fatal("malloc");
    memset(heap_secret, 0, 64);
    memcpy(heap_secret, HEAP_SECRET, sizeof HEAP_SECRET);

    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        fatal("mmap shared");
    shared_counter = page;
    *(volatile uint64_t *)shared_counter = 7;

    /* The child: forked while the process is still single-threaded. */
    int sp[2], cp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0)
        fatal("socketpair");
    if (pipe(cp) != 0)
        fatal("pipe");
    int sp_parent = to_high(sp[0], "socketpair"), sp_child = to_high(sp[1], "socketpair");
    int cp_r = to_high(cp[0], "pipe"), cp_w = to_high(cp[1], "pipe");
    child_pid = fork();
    if (child_pid < 0)
        fatal("fork");
    if (child_pid == 0) {
        close(sp_parent);
        child_main(sp_child, cp_r, cp_w);
    }
    close(sp_child);
    close(cp_r);
    close(cp_w);
    place(sp_parent, FD_SOCKPAIR, "socketpair parent end");

    /* The rest of the fd table, each at its fixed number. */
    int log_fd, data_fd;
    setup_listeners();
    setup_pipes();
    setup_files_and_maps(&log_fd, &data_fd);
    setup_special_fds(log_fd, data_fd);

    /* Wait until the child's 18 bytes are queued on fd 5 (the parent never reads them). */
    for (int i = 0;; i++) {
        int queued = 0;
        if (ioctl(FD_SOCKPAIR, FIONREAD, &queued) != 0)
            fatal("FIONREAD on fd %d", FD_SOCKPAIR);
        if (queued == (int)strlen(CHILD_MESSAGE))
            break;
        if (i >= 5000 || queued > (int)strlen(CHILD_MESSAGE)) {
            errno = 0;
            fatal("fd %d holds %d queued bytes, want %zu", FD_SOCKPAIR, queued, strlen(CHILD_MESSAGE));
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }

    start_thread(worker_main, &worker_tid, "svc-worker");
    start_thread(reader_main, &reader_tid, "svc-reader");
    start_thread(sleeper_main, &sleeper_tid, "svc-sleeper");

    wait_blocked(child_pid, child_pid, SYS_read, "svc-child");
    wait_blocked(getpid(), worker_tid, SYS_futex, "svc-worker");
    wait_blocked(getpid(), reader_tid, SYS_read, "svc-reader");
    wait_blocked(getpid(), sleeper_tid, SYS_clock_nanosleep, "svc-sleeper");

    char json[2048];
    int jl = state_json(json, sizeof json);
    if (jl < 0 || (size_t)jl >= sizeof json) {
        errno = 0;
        fatal("state JSON too long");
    }
    printf("%s\nREADY\n", json);
    if (fflush(stdout) != 0)
        fatal("stdout");

    for (;;) {
        int c = accept(FD_TCP_LISTEN, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fatal("accept");
        }
        /* Off the fixed range: `connect` puts its pair at 18/19, which accept() would hand out here. */
        c = to_high(c, "control connection");
        handle(c);
        close(c);
    }
}
