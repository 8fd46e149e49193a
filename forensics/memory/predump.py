"""Processes of a pre-dump directory: memory only.

`criu pre-dump` (and `runc checkpoint --pre-dump`, `podman container checkpoint --pre-checkpoint`) writes
no process tree, no cores and no mm images: only inventory.img (with pre_dump_mode), and for each process
a pagemap-<pid>.img with its pages-<n>.img. What it shows is therefore the pids (from the pagemap file
names) and the pages, by address. Without mm images the mappings are unknown, so each stretch of
consecutive pages becomes one pseudo-mapping of kind "pre-dump" with no protection bits: searchable and
diffable by address, and never claimed to be anything it is not.
"""

from __future__ import annotations

import re

from forensics.memory.space import AddressSpace, PageStore
from forensics.model.process import Process
from forensics.model.vma import Vma, VmaKind

PAGEMAP_NAME = re.compile(r"pagemap-(\d+)\.img")
KIND = VmaKind.PRE_DUMP


def pids_of(names: list[str]) -> list[int]:
    """The pids a pre-dump holds pages of, from its pagemap-<pid>.img names (pagemap-shmem-* excluded)."""
    return sorted(int(m.group(1)) for n in names if (m := PAGEMAP_NAME.fullmatch(n)))


def pseudo_vmas(store: PageStore) -> list[Vma]:
    """One pseudo-mapping per stretch of adjacent pagemap runs."""
    out: list[Vma] = []
    for run in store.runs:
        if out and out[-1].end == run.start:
            out[-1].end = run.end
        else:
            out.append(Vma(start=run.start, end=run.end, pgoff=0, prot=0, flags=0, status=0, shmid=0,
                           path=None, kind=KIND))
    return out


def memory_only_process(pid: int, store: PageStore) -> tuple[Process, AddressSpace]:
    proc = Process(pid=pid, ppid=0, pgid=0, sid=0, comm="?", state="pre-dump: memory only",
                   exit_code=None, threads=[], personality=0,
                   memory_only=True)
    proc.vmas = pseudo_vmas(store)
    space = AddressSpace(proc.vmas, store)
    for v in proc.vmas:
        v.dumped_pages, v.parent_pages, v.lazy_pages = store.dumped_pages(v.start, v.end)
    return proc, space
