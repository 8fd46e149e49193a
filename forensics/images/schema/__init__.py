"""The project's own statement of CRIU 4.2.1's image messages, one module per topic.

`ALL` gathers every declaration; `forensics.images.messages` builds protobuf classes from it. Within a
module, a comment names the CRIU `.proto` file each group of declarations corresponds to, so a reader
can hold one against the other. `python -m forensics.images.schema.sync` compares every name, number,
type, label, default, display hint, enum and nested type with a pycriu's descriptors and can rewrite
these modules to match (docs/schema.md); tests/images/test_schema.py runs it against the lab's CRIU
4.2.1 and expects no difference.
"""

from __future__ import annotations

from forensics.images.schema import (
    core,
    files,
    memory,
    misc,
    mounts,
    namespaces,
    notify,
    registers,
    sockets,
    tty,
)
from forensics.images.schema.declare import Enum, Msg

ALL: tuple[Msg | Enum, ...] = (
    core.SCHEMA + registers.SCHEMA + files.SCHEMA + notify.SCHEMA + tty.SCHEMA + sockets.SCHEMA
    + memory.SCHEMA + mounts.SCHEMA + namespaces.SCHEMA + misc.SCHEMA
)
