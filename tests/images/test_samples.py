"""Our decoding of every bundled checkpoint against the reference, `crit decode` of CRIU 4.2.1.

For each sample: every image decodes without damage or unknown fields, our crit-shaped JSON equals the
lab's crit JSON exactly (parsed objects, field by field), every entry re-encodes to its original
payload bytes, and the pagemaps account for every byte of their pages files.
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest

from forensics.images import decode
from forensics.images.crit_json import image_json
from forensics.images.decode import Image, encode_entry, list_images, open_image
from forensics.images.extra import QueuedMessage
from forensics.images.magic import Layout
from forensics.images.pagemap import PE_PARENT, PE_PRESENT, normalise, pagemap_runs
from tests.conftest import Sample
from tests.images.checkpoints import images_dir, sample_params

# Magics crit 4.2.1 has no handler for (it fails on them), so their images have no reference JSON.
NO_CRIT_HANDLER = {"BINFMT_MISC", "SIGNAL", "KDAT", "PIDFD"}

per_sample = pytest.mark.parametrize("sample_dir", sample_params(), indirect=True)


def _images(directory: Path) -> list[Image]:
    images = list_images(directory)
    assert images, f"{directory} holds no file"
    return images


# Fields CRIU renamed without changing their number, as (magic, name in the older crit, name today): the
# older crit's JSON is compared under today's names. PagemapEntry field 2 was `nr_pages` up to 4.1; 4.2
# renamed it `compat_nr_pages` when it added a 64-bit `nr_pages` (field 5).
RENAMED = {"3.17": [("PAGEMAP", "nr_pages", "compat_nr_pages")]}


def today_names(ref: dict, criu: str | None) -> dict:
    for magic, old, new in RENAMED.get(criu or "", []):
        if ref["magic"] == magic:
            ref["entries"] = [{(new if k == old else k): v for k, v in e.items()} for e in ref["entries"]]
    return ref


def crit_mismatches(images: list[Image], crit_dir: Path, criu: str | None = None) -> list[str]:
    """Every difference between our JSON and crit's, as readable lines (empty when all agree). `criu`: the
    version that wrote the images when it is not 4.2 (the samples' index says, e.g. "3.17")."""
    problems = []
    for image in images:
        ref_path = crit_dir / f"{image.name}.json"
        if not ref_path.exists():
            if image.decodable and image.magic not in NO_CRIT_HANDLER:
                problems.append(f"{image.name}: crit has no JSON for a {image.magic} image")
            continue
        if not image.decodable:
            problems.append(f"{image.name}: crit decoded it as {json.loads(ref_path.read_text())['magic']}, "
                            f"we see {image.magic}")
            continue
        ours, ref = image_json(image), today_names(json.loads(ref_path.read_text()), criu)
        if ours == ref:
            continue
        if ours["magic"] != ref["magic"] or len(ours["entries"]) != len(ref["entries"]):
            problems.append(f"{image.name}: magic/count {ours['magic']}/{len(ours['entries'])} "
                            f"vs crit {ref['magic']}/{len(ref['entries'])}")
            continue
        for i, (a, b) in enumerate(zip(ours["entries"], ref["entries"], strict=True)):
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    problems.append(f"{image.name} entry {i} {key}: ours {a.get(key)!r:.200} crit {b.get(key)!r:.200}")
    return problems


@per_sample
def test_every_image_decodes_cleanly(sample_dir: tuple[Sample, Path]) -> None:
    sample, directory = sample_dir
    images = _images(directory)
    assert damage_and_novelty(images) == []
    # An image of no entries is right only where crit also found none (a pre-dump's irmap-cache).
    empty = [i.name for i in images if i.decodable and not i.load()]
    assert [n for n in empty if sample.crit_json(n)["entries"] != []] == []


@per_sample
def test_crit_json_equals_crit(sample_dir: tuple[Sample, Path]) -> None:
    sample, directory = sample_dir
    assert sample.crit.is_dir(), f"{sample} has no crit directory"
    assert crit_mismatches(_images(directory), sample.crit, sample.entry.get("criu")) == []


@per_sample
def test_raw_and_foreign_files_are_what_crit_could_not_decode(sample_dir: tuple[Sample, Path]) -> None:
    sample, directory = sample_dir
    for image in _images(directory):
        if not image.decodable:
            assert not (sample.crit / f"{image.name}.json").exists(), image.name
            assert image.magic in {"PAGES", "TMPFS_DEV", "TMPFS_IMG", "UNKNOWN", "IFADDR", "ROUTE", "ROUTE6",
                                   "RULE", "IPTABLES", "IP6TABLES", "NFTABLES", "NETNF_CT", "NETNF_EXP"}
            assert image.errors == []


@per_sample
def test_entries_re_encode_to_their_bytes(sample_dir: tuple[Sample, Path]) -> None:
    _, directory = sample_dir
    differing = []
    for image in _images(directory):
        data = image.data()
        for entry in image.load():
            if encode_entry(entry) != image.payload(entry):
                differing.append(f"{image.name} entry at {entry.offset}")
            if isinstance(entry.extra, tuple):
                for queued in entry.extra:
                    assert isinstance(queued, QueuedMessage)
                    (size,) = struct.unpack_from("<I", data, queued.offset)
                    raw = data[queued.offset + 4:queued.offset + 4 + size].tobytes()
                    if queued.header.SerializePartialToString() != raw:
                        differing.append(f"{image.name} queued message at {queued.offset}")
    assert differing == []


@per_sample
def test_pagemaps_account_for_every_page(sample_dir: tuple[Sample, Path]) -> None:
    _, directory = sample_dir
    # Only the pagemaps of this dump: Podman reuses its checkpoint directory, so an export can carry
    # stale pagemap-<pid>.img files of processes that are not in pstree.img, whose pages file has since
    # been overwritten (podman/checkpoint-tar holds one).
    # A pre-dump has no pstree.img: its pagemaps are all of this dump.
    pids = ({e.message.pid for e in open_image(directory / "pstree.img").load()}
            if (directory / "pstree.img").exists() else {int(n.name[8:-4]) for n in directory.glob("pagemap-[0-9]*.img")})
    pagemaps = [i for i in _images(directory) if i.kind.layout is Layout.PAGEMAP
                and (i.name.startswith("pagemap-shmem-") or int(i.name[8:-4]) in pids)]
    assert pagemaps, "a checkpoint always has pagemaps"
    sizes: dict[str, int] = {}
    for image in pagemaps:
        pm = pagemap_runs(image)
        assert pm.errors == []
        assert pm.pages_file is not None and (directory / pm.pages_file).exists()
        present = [r for r in pm.runs if r.present]
        assert sizes.setdefault(pm.pages_file, 0) == 0, f"{pm.pages_file} indexed by two pagemaps"
        sizes[pm.pages_file] = sum(r.nr_pages for r in present) * 4096
        # Runs are address-ordered and do not overlap within one pagemap.
        for a, b in itertools.pairwise(pm.runs):
            assert a.end() <= b.vaddr, f"{image.name}: runs at {a.vaddr:#x} and {b.vaddr:#x} overlap"
        offsets = [r.pages_offset or 0 for r in present]
        assert offsets == sorted(offsets) and (not offsets or offsets[0] == 0)
    for name, expected in sizes.items():
        assert (directory / name).stat().st_size == expected, name


@per_sample
def test_pagemap_normalisation_reads_older_layouts_the_same(sample_dir: tuple[Sample, Path]) -> None:
    """Each real 4.2 entry rewritten as a <=4.1 writer (count in field 2, no field 5) and as a pre-3.5
    writer (no flags; in_parent) normalises as CRIU's init_compat_pagemap_entry would. A real 3.17
    checkpoint (the bookworm guest's) is such a <=4.1 writer itself."""
    sample, directory = sample_dir
    checked = 0
    for image in _images(directory):
        if image.kind.layout is not Layout.PAGEMAP:
            continue
        for entry in image.load()[1:]:
            vaddr, nr_pages, flags = normalise(entry.message)
            if sample.entry.get("criu") == "3.17":
                assert not entry.message.HasField("nr_pages") and entry.message.compat_nr_pages == nr_pages > 0
                checked += 1
                continue
            assert entry.message.HasField("nr_pages") and entry.message.compat_nr_pages == 0
            old = type(entry.message)()
            old.CopyFrom(entry.message)
            old.ClearField("nr_pages")
            old.compat_nr_pages = nr_pages
            assert normalise(old) == (vaddr, nr_pages, flags)
            older = type(entry.message)()
            older.CopyFrom(old)
            older.ClearField("flags")
            assert normalise(older) == (vaddr, nr_pages, PE_PRESENT)
            older.in_parent = True
            assert normalise(older) == (vaddr, nr_pages, PE_PARENT)
            checked += 1
    assert checked


@per_sample
def test_big_endian_images_decode_the_same(sample_dir: tuple[Sample, Path], tmp_path: Path) -> None:
    """s390x writes host-order words: the same images with byte-swapped header and size words decode to
    the same entries, and are recognised as big-endian."""
    _, directory = sample_dir
    for image in _images(directory):
        if not image.decodable or any(isinstance(e.extra, tuple) for e in image.load()):
            continue  # ipc message queues carry host-order words inside EXTRA; none in these samples
        data = bytearray(image.data())
        assert image.header is not None
        for at in range(0, image.header.length, 4):
            data[at:at + 4] = data[at:at + 4][::-1]
        for entry in image.load():
            data[entry.offset:entry.offset + 4] = data[entry.offset:entry.offset + 4][::-1]
        swapped = tmp_path / image.name
        swapped.write_bytes(bytes(data))
        be = open_image(swapped)
        assert be.byteorder == "big" and be.magic == image.magic
        assert [encode_entry(e) for e in be.load()] == [encode_entry(e) for e in image.load()]
        assert be.errors == []


@per_sample
def test_large_files_are_mapped_and_decode_the_same(sample_dir: tuple[Sample, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Images above decode.READ_LIMIT are mmap-ed instead of read; the result must not change."""
    _, directory = sample_dir
    read = {i.name: [(e.offset, encode_entry(e)) for e in i.load()] for i in _images(directory)}
    monkeypatch.setattr(decode, "READ_LIMIT", 0)
    mapped = {i.name: [(e.offset, encode_entry(e)) for e in i.load()] for i in _images(directory)}
    assert mapped == read


def damage_and_novelty(images: list[Image]) -> list[str]:
    problems = []
    for image in images:
        entries = image.load()
        problems += [f"{image.name}: {e}" for e in image.errors + [*image.warnings]]
        problems += [f"{image.name} entry at {e.offset}: {u}" for e in entries for u in e.unknown_fields]
    return problems


@pytest.mark.lab
def test_fresh_lab_checkpoints_decode_as_crit_does(lab_samples: list[Sample], tmp_path: Path) -> None:
    """The same checks on checkpoints made during this test session, not only on the bundled ones."""
    assert lab_samples
    for sample in lab_samples:
        directory = images_dir(sample, tmp_path)
        images = _images(directory)
        assert damage_and_novelty(images) == [], sample
        assert crit_mismatches(images, sample.crit) == [], sample
