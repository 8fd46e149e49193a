"""Mount points of the dumped mount namespace(s)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Mount:
    """One mount. `external` is the key CRIU was given for a bind mount from outside the container
    (Docker's volumes, /etc/hosts...), or None. Propagation: shared_id/master_id as in mountinfo."""

    mnt_id: int
    parent_mnt_id: int
    mountpoint: str
    fstype: str
    source: str
    options: str
    root: str
    flags: int
    sb_flags: int
    shared_id: int
    master_id: int
    external: str | bool | None
    root_dev: int
    ns_id: int

    @property
    def propagation(self) -> str:
        parts = []
        if self.shared_id:
            parts.append(f"shared:{self.shared_id}")
        if self.master_id:
            parts.append(f"master:{self.master_id}")
        return " ".join(parts) or "private"
