/* memhog: the lab's benchmark workload.
 *
 *   memhog MIB NEEDLES [CHILDREN FDS_PER_CHILD]
 *
 * Fills MIB MiB of anonymous memory with pseudo-random (incompressible) bytes from a fixed xorshift
 * seed, plants NEEDLES copies of "CF-NEEDLE-0123456789" at fixed pseudo-random page offsets, optionally
 * forks CHILDREN processes that each open FDS_PER_CHILD fds (/dev/null), prints one JSON line
 * with the facts (pid, base address, size, needle addresses) and "READY", then sleeps. On SIGUSR1 it
 * rewrites every 10th page (page index % 10 == 0) with new random bytes and prints "CHANGED". Everything
 * is deterministic so a benchmark can check its answers.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char needle[] = "CF-NEEDLE-0123456789";
static volatile sig_atomic_t change_requested;
static uint64_t state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = next();
        memcpy(p + i, &v, 8);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
    change_requested = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: memhog MIB NEEDLES [CHILDREN FDS_PER_CHILD]\n");
        return 1;
    }
    size_t size = (size_t)strtoul(argv[1], NULL, 10) << 20;
    long needles = strtol(argv[2], NULL, 10);
    long children = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    long fds = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    /* Children first: forked after the fill they would each carry a copy-on-write share of it, and CRIU
     * dumps every process's present pages. */
    pid_t kids[4096];
    long nkids = 0;
    for (long c = 0; c < children && c < 4096; c++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            munmap(mem, size);
            /* /dev/null only: CRIU cannot dump thousands of pipes here ("OOM storing pipe": it
             * may not raise its own RLIMIT_NOFILE in this sandbox). */
            for (long i = 0; i < fds; i++)
                if (open("/dev/null", i % 2 ? O_WRONLY : O_RDONLY) < 0)
                    _exit(1);
            for (;;)
                pause();
        }
        kids[nkids++] = pid;
    }
    fill(mem, size);
    size_t pages = size / 4096;
    printf("{\"pid\":%d,\"base\":%lu,\"size\":%zu,\"needles\":[", getpid(), (unsigned long)mem, size);
    for (long i = 0; i < needles; i++) {
        size_t page = (size_t)(next() % pages);
        size_t off = page * 4096 + 100 + (size_t)(next() % 3000);
        memcpy(mem + off, needle, sizeof needle - 1);
        printf("%s%lu", i ? "," : "", (unsigned long)(mem + off));
    }
    printf("],\"children\":[");
    for (long c = 0; c < nkids; c++)
        printf("%s%d", c ? "," : "", kids[c]);
    printf("]}\nREADY\n");
    fflush(stdout);
    signal(SIGUSR1, on_usr1);
    for (;;) {
        pause();
        if (change_requested) {
            change_requested = 0;
            for (size_t pg = 0; pg < pages; pg += 10)
                fill(mem + pg * 4096, 4096);
            printf("CHANGED\n");
            fflush(stdout);
        }
    }
}
