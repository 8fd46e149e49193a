"""Coverage-guided fuzzing of the image decoder and the model builder with atheris (libFuzzer).

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/atheris_images.py -atheris_runs=200000 [-max_total_time=600]

Each input replaces one image of a real service checkpoint (copied to a temp dir; the image is chosen by
the input's first byte, so the corpus starts from real images). Anything but a result or a
ForensicsError, or an "internal error" recorded by the loader, is a crash that libFuzzer saves.
Not run in CI (atheris needs a compiled extension); tests/hostile/test_fuzz_images.py is CI's bounded run.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from forensics.errors import ForensicsError
    from forensics.loader import load_checkpoint
    from forensics.render import json as json_render

REPO = Path(__file__).resolve().parent.parent
INDEX = json.loads((REPO / "samples" / "index.json").read_text())
SOURCE = REPO / "samples" / next(e["images"] for e in INDEX if e["scenario"] == "service")
WORK = Path(tempfile.mkdtemp(prefix="cf-atheris-")) / "ck"
shutil.copytree(SOURCE, WORK)
NAMES = sorted(p.name for p in WORK.iterdir() if p.is_file() and not p.name.startswith("pages-"))


def one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    target = WORK / name
    original = (SOURCE / name).read_bytes()
    target.write_bytes(data[1:])
    try:
        ck = load_checkpoint(WORK)
        json_render.render(ck)
        internal = [e for e in ck.errors if "internal error" in e]
        if internal:
            raise RuntimeError(internal[0])
    except ForensicsError:
        pass
    finally:
        target.write_bytes(original)


def main() -> None:
    corpus = Path(tempfile.mkdtemp(prefix="cf-atheris-corpus-"))
    for i, name in enumerate(NAMES):
        (corpus / name).write_bytes(bytes([i]) + (SOURCE / name).read_bytes())
    atheris.Setup([sys.argv[0], str(corpus), *sys.argv[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
