"""Pages a scan has finished with leave this process's resident set, and nothing else is touched.

Measured on the process itself: RssFile in /proc/self/status counts the file-backed pages mapped into
it. A 64 MiB file is read through the same views locate hands out for pages files.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from forensics.loader import load_checkpoint
from forensics.locate.views import MappedFile, SharedMap, Window
from forensics.memory import residency

MIB = 1 << 20
SIZE = 64 * MIB


def _rss_file_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status")


def _touch(view: memoryview, start: int, length: int) -> None:
    total = 0
    for off in range(start, start + length, mmap.PAGESIZE):
        total += view[off]
    assert total >= 0


@pytest.fixture
def pages_file(tmp_path: Path) -> Path:
    path = tmp_path / "pages-1.img"
    with path.open("wb") as f:
        for i in range(SIZE // MIB):
            f.write(bytes([i % 251 + 1]) * MIB)
    return path


def test_a_whole_file_view_releases_exactly_the_range(pages_file: Path) -> None:
    blob = MappedFile(pages_file, SIZE)
    view = blob.view()
    assert residency.mapping_of(view) == (view.obj, 0)
    base = _rss_file_mib()
    _touch(view, 0, 48 * MIB)
    assert _rss_file_mib() - base > 40
    residency.drop(view, 0, 32 * MIB)
    left = _rss_file_mib() - base
    assert 12 < left < 20, left          # the 16 MiB not dropped are still mapped
    residency.drop(view, 32 * MIB, 16 * MIB)
    assert _rss_file_mib() - base < 4
    assert view[40 * MIB] == 41          # dropped pages read back from the page cache
    del view
    blob.close()


def test_an_archive_member_window_releases_its_own_range(pages_file: Path) -> None:
    shared = SharedMap(pages_file)
    member = Window(shared.view, 8 * MIB + 512, 32 * MIB)   # as a tar member: not page-aligned
    view = member.view()
    assert residency.mapping_of(view) == (shared.view.obj, 8 * MIB + 512)
    base = _rss_file_mib()
    _touch(shared.view, 0, SIZE)
    residency.drop(view, 0, len(view))
    left = _rss_file_mib() - base
    # 64 MiB touched, the member's 32 MiB (less the two partial pages at its ends) released
    assert 30 < left < 34, left
    assert view[0] == 9 and view[len(view) - 1] == 41   # its last byte is in the file's 41st MiB
    del view
    shared.close()


def test_a_slice_releases_what_the_scan_touched_in_its_map(pages_file: Path) -> None:
    blob = MappedFile(pages_file, SIZE)
    view = blob.view()
    piece = view[MIB:9 * MIB]
    assert residency.mapping_of(piece) is None      # a slice cannot say where it lies
    base = _rss_file_mib()
    _touch(view, 0, 16 * MIB)
    residency.drop(piece, 0, len(piece))
    assert _rss_file_mib() - base < 4
    assert piece[0] == 2
    del piece, view
    blob.close()


def test_a_writable_private_map_is_never_advised(pages_file: Path) -> None:
    """MADV_DONTNEED on a private writable map would discard what was written to it."""
    with pages_file.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
        mm[0:4] = b"kept"
        view = memoryview(mm)
        residency.drop(view, 0, len(view))
        residency.drop(view[0:mmap.PAGESIZE * 4], 0, mmap.PAGESIZE * 4)
        assert bytes(view[0:4]) == b"kept"
        view.release()


def test_ordinary_memory_is_left_alone() -> None:
    data = memoryview(bytearray(4 * MIB))
    assert residency.mapping_of(data) is None
    residency.drop(data, 0, len(data))
    residency.drop(memoryview(b"abc"), 0, 3)


@pytest.mark.parametrize("sample", [
    # pages-1.img of 364 KiB: mapped (files under READ_BELOW are read whole, and have no map to place)
    "shell/docker-root/containers/ee988f5185472b643212139f027c6c6bcb3a598f8e368ec98247b0b1b3a63f0c"
    "/checkpoints/checkpoint1",
    "podman/checkpoint.tar",   # members read in place from the archive's one map
])
def test_page_stores_keep_the_views_locate_placed(sample: str) -> None:
    """The loader hands each pages file's own view to its PageStore (not a new view over it), so grep's
    mmap.find and exact releases work on it; a re-wrapped view would silently lose both."""
    path = Path(__file__).resolve().parents[2] / "samples" / sample
    ck = load_checkpoint(path)
    stores = [space.store for space in ck.memory.values()]
    assert stores
    for store in stores:
        placed = residency.mapping_of(store.pages)
        assert placed is not None
        mapping, offset = placed
        assert bytes(mapping[offset:offset + 64]) == bytes(store.pages[:64])
        assert (offset == 0) == sample.endswith("checkpoint1")
