"""Damaged and forged images, made from the real sample images in a temporary directory.

Whatever is done to a file, decoding raises nothing but ImageError (and that only from `open_image`
for a file that cannot be read, or from `image_json` on a damaged image): the damage is reported in
`Image.errors` with the file's path and the offset of the damaged structure, and the entries before
it are kept, identical to the undamaged decoding.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from forensics.errors import ImageError
from forensics.images.crit_json import image_json
from forensics.images.decode import Image, encode_entry, list_images, open_image
from forensics.images.magic import Layout
from forensics.images.pagemap import pagemap_runs
from tests.conftest import Sample
from tests.images.checkpoints import sample_params

per_sample = pytest.mark.parametrize("sample_dir", sample_params(), indirect=True)


@dataclass
class Original:
    """An undamaged image and where each of its entries starts and ends."""

    image: Image
    data: bytes
    payloads: list[bytes]
    starts: list[int]
    ends: list[int]   # each entry's end, EXTRA included: the next entry's start, or EOF for the last

    @property
    def header_length(self) -> int:
        assert self.image.header is not None
        return self.image.header.length


def originals(directory: Path) -> list[Original]:
    """One undamaged decodable image per magic (the largest), ghost files and images of no entries aside:
    a ghost file's unchunked content runs to EOF, so a shorter file is not damage."""
    best: dict[str, Image] = {}
    for image in list_images(directory):
        wanted = image.decodable and image.kind.layout is not Layout.GHOST
        if wanted and (image.magic not in best or image.file_size > best[image.magic].file_size):
            best[image.magic] = image
    out = []
    for image in best.values():
        entries = image.load()
        assert image.errors == []
        if not entries:
            continue  # a header alone (a pre-dump's empty irmap-cache): nothing to cut into
        starts = [e.offset for e in entries]
        out.append(Original(image, image.data().tobytes(), [image.payload(e) for e in entries], starts,
                            starts[1:] + [image.file_size]))
    return out


def decode_copy(tmp: Path, original: Original, data: bytes) -> tuple[Image, list[bytes]]:
    """Write `data` under the original's name in `tmp` and decode it; only ImageError may surface."""
    path = tmp / original.image.name
    path.write_bytes(data)
    image = open_image(path)
    payloads = [encode_entry(e) for e in image.load()]
    for err in image.errors:
        assert isinstance(err, ImageError)
        assert err.path == str(path), err
        assert err.offset is not None and 0 <= err.offset <= len(data), err
    return image, payloads


def truncation_points(o: Original) -> list[int]:
    points = {0, 1, 3, 4, 5, 7, len(o.data) - 1}
    for start in o.starts:
        points.update({start, start + 1, start + 3, start + 4, start + 5})
    step = max(1, len(o.data) // 32)
    points.update(range(0, len(o.data), step))
    return sorted(p for p in points if 0 <= p < len(o.data))


@per_sample
def test_truncated_images_keep_what_precedes_the_cut(sample_dir: tuple[Sample, Path], tmp_path: Path) -> None:
    _, directory = sample_dir
    for o in originals(directory):
        for cut in truncation_points(o):
            image, payloads = decode_copy(tmp_path, o, o.data[:cut])
            where = f"{o.image.name} cut at {cut}"
            kept = sum(1 for end in o.ends if end <= cut)
            assert payloads == o.payloads[:kept], where
            if cut < o.header_length:
                assert payloads == [] and image.errors, where
                assert all(err.offset <= cut for err in image.errors), where   # type: ignore[operator]
                continue
            broken = o.starts[kept]
            needs_entry = o.image.kind.layout in (Layout.SINGLE, Layout.PAGEMAP)
            if cut == broken and not (kept == 0 and needs_entry):
                assert image.errors == [], where   # a cut between entries looks like a shorter image
                continue
            assert len(image.errors) == 1, (where, image.errors)
            assert broken <= image.errors[0].offset <= cut, (where, image.errors)   # type: ignore[operator]
            assert image.partial


@per_sample
def test_forged_entry_sizes_are_refused_without_allocating(sample_dir: tuple[Sample, Path],
                                                           tmp_path: Path) -> None:
    _, directory = sample_dir
    for o in originals(directory):
        for i, start in enumerate(o.starts):
            data = bytearray(o.data)
            data[start:start + 4] = b"\xff\xff\xff\xff"
            began = time.monotonic()
            image, payloads = decode_copy(tmp_path, o, bytes(data))
            assert time.monotonic() - began < 1.0
            assert payloads == o.payloads[:i]
            assert [e.offset for e in image.errors] == [start], image.errors
            assert "4294967295" in image.errors[0].message


@per_sample
def test_wrong_magic_is_reported_at_the_magic(sample_dir: tuple[Sample, Path], tmp_path: Path) -> None:
    _, directory = sample_dir
    for o in originals(directory):
        magic_at = o.header_length - 4
        data = bytearray(o.data)
        data[magic_at:magic_at + 4] = b"\xef\xbe\xad\xde"
        image, payloads = decode_copy(tmp_path, o, bytes(data))
        assert payloads == [] and image.partial
        assert [e.offset for e in image.errors] == [magic_at], image.errors
        with pytest.raises(ImageError):
            image_json(image)


@per_sample
def test_garbage_payload_is_reported_and_the_rest_kept(sample_dir: tuple[Sample, Path], tmp_path: Path) -> None:
    _, directory = sample_dir
    for o in originals(directory):
        for i, start in enumerate(o.starts):
            size = len(o.payloads[i])
            if size == 0:
                continue
            data = bytearray(o.data)
            data[start + 4:start + 4 + size] = b"\xff" * size
            image, payloads = decode_copy(tmp_path, o, bytes(data))
            assert [e.offset for e in image.errors] == [start + 4], (o.image.name, i, image.errors)
            assert payloads[:i] == o.payloads[:i]
            if o.image.kind.extra is None:
                # Framing is intact and nothing depends on the lost entry: the rest still decodes.
                assert payloads[i:] == o.payloads[i + 1:]
            else:
                assert len(payloads) == i


@per_sample
def test_random_damage_never_escapes_as_another_exception(sample_dir: tuple[Sample, Path],
                                                          tmp_path: Path) -> None:
    _, directory = sample_dir
    rng = random.Random(20251129)
    for o in originals(directory):
        for _ in range(40):
            data = bytearray(o.data)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(data))
                data[at] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[:rng.randrange(len(data))]
            image, _ = decode_copy(tmp_path, o, bytes(data))
            try:
                image_json(image)
            except ImageError:
                assert image.partial or not image.decodable
            if image.kind.layout is Layout.PAGEMAP and image.header is not None:
                pagemap_runs(image)


def test_unknown_and_unreadable_files(tmp_path: Path) -> None:
    """Files no CRIU format describes are listed as unknown; a known name without a magic is damage."""
    (tmp_path / "dump.log").write_text("(00.000000) Version: 4.2.1\n")
    (tmp_path / "core-1.img").write_bytes(b"")
    (tmp_path / "pages-1.img").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    images = {i.name: i for i in list_images(tmp_path)}
    assert set(images) == {"dump.log", "core-1.img", "pages-1.img"}
    assert images["dump.log"].magic == "UNKNOWN" and images["dump.log"].errors == []
    assert images["pages-1.img"].magic == "PAGES" and images["pages-1.img"].errors == []
    assert [(e.path, e.offset) for e in images["core-1.img"].errors] == [(str(tmp_path / "core-1.img"), 0)]
    with pytest.raises(ImageError):
        open_image(tmp_path / "missing.img")
    with pytest.raises(ImageError):
        open_image(tmp_path / "sub")


@per_sample
def test_samples_are_never_written(sample_dir: tuple[Sample, Path], tmp_path: Path) -> None:
    """The hostile tests work on copies: decoding a copied directory gives the same as the original."""
    _, directory = sample_dir
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy, symlinks=True)
    ours = {i.name: [encode_entry(e) for e in i.load()] for i in list_images(copy)}
    theirs = {i.name: [encode_entry(e) for e in i.load()] for i in list_images(directory)}
    assert ours == theirs
