/*
 * chain.c - the guest lab's target for incremental checkpoints (criu pre-dump, pre-dump, dump).
 *
 * Three kinds of memory, so a reader of a parent chain is tested on each way a page can be stored:
 *   early   16 private anonymous pages, each holding "CF-EARLY-<page>-<tag>", written once at start-up
 *           and never again: after the first pre-dump they are only in the oldest checkpoint.
 *   step     4 private anonymous pages holding "CF-STEP<n>-<page>-<tag>", rewritten at every step: each
 *           level of the chain holds them anew.
 *   shared   2 MAP_SHARED|MAP_ANONYMOUS pages holding "CF-SHARED-STEP<n>-<page>-<tag>", rewritten at every
 *           step (shared anonymous memory has no soft-dirty tracking in CRIU: dumped whole each time).
 * plus a heap string "CF-HEAP-STEP<n>-<tag>" rewritten in place.
 *
 * SIGUSR1 moves to the next step (rewrites step, shared and heap); after each change the program writes
 * "<step>\n" to <dir>/chain.step (open, write, close: no file stays open). At start-up it writes
 * <dir>/chain.json with the addresses. The main thread waits in pause(); nothing else runs.
 *
 * Build:  gcc -static -O1 -g -Wall -Wextra -o chain chain.c
 * Run:    chain DIR TAG
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define EARLY_PAGES 16
#define STEP_PAGES 4
#define SHARED_PAGES 2

static volatile sig_atomic_t pending;
static char *early, *stepmem, *shared, *heap;
static int step;
static const char *dir, *tag;

static void on_usr1(int sig) { (void)sig; pending = 1; }

static void write_file(const char *name, const char *text)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
        perror(path);
        exit(1);
    }
    rename(tmp, path);
}

static void rewrite(void)
{
    for (int i = 0; i < STEP_PAGES; i++) {
        memset(stepmem + i * PAGE, 0, PAGE);
        snprintf(stepmem + i * PAGE, PAGE, "CF-STEP%d-%d-%s", step, i, tag);
    }
    for (int i = 0; i < SHARED_PAGES; i++) {
        memset(shared + i * PAGE, 0, PAGE);
        snprintf(shared + i * PAGE, PAGE, "CF-SHARED-STEP%d-%d-%s", step, i, tag);
    }
    memset(heap, 0, 64);
    snprintf(heap, 64, "CF-HEAP-STEP%d-%s", step, tag);
    char text[32];
    snprintf(text, sizeof text, "%d\n", step);
    write_file("chain.step", text);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: chain DIR TAG\n");
        return 2;
    }
    dir = argv[1];
    tag = argv[2];
    early = mmap(NULL, EARLY_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stepmem = mmap(NULL, STEP_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    shared = mmap(NULL, SHARED_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    heap = malloc(64);
    if (early == MAP_FAILED || stepmem == MAP_FAILED || shared == MAP_FAILED || !heap)
        return 1;
    for (int i = 0; i < EARLY_PAGES; i++)
        snprintf(early + i * PAGE, PAGE, "CF-EARLY-%d-%s", i, tag);
    signal(SIGUSR1, on_usr1);
    char facts[512];
    snprintf(facts, sizeof facts,
             "{\"pid\": %d, \"early\": %lu, \"early_pages\": %d, \"step\": %lu, \"step_pages\": %d, "
             "\"shared\": %lu, \"shared_pages\": %d, \"heap\": %lu}\n",
             getpid(), (unsigned long)early, EARLY_PAGES, (unsigned long)stepmem, STEP_PAGES,
             (unsigned long)shared, SHARED_PAGES, (unsigned long)heap);
    write_file("chain.json", facts);
    rewrite();
    for (;;) {
        pause();
        if (pending) {
            pending = 0;
            step++;
            rewrite();
        }
    }
}
