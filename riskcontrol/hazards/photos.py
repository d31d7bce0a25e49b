"""Photos of a hazard: sniffed to be an image, at most 5 MB and 10 a hazard, kept under var/, served back in scope."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Final

import filetype
from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import InvalidInput, NotFound
from riskcontrol.core.private import private_dir, private_file
from riskcontrol.core.security import Principal
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.schemas import PhotoIn
from riskcontrol.hazards.service import HazardConfig, get, record

PHOTO_TYPES: Final = {"image/jpeg", "image/png", "image/webp", "image/heic"}
MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
MAX_PHOTOS: Final = 10


def add_photo(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard_id: int, data: PhotoIn) -> Hazard:
    """Attach a photo (JPEG, PNG, WebP or HEIC, at most 5 MB) to a hazard; the file is kept under var/."""
    hazard = get(db, principal, hazard_id)
    _room_for_one(hazard, "data_base64")
    try:
        raw = base64.b64decode(data.data_base64, validate=True)
    except ValueError as exc:
        raise InvalidInput("the photo is not valid base64", field="data_base64") from exc
    return attach_photo(db, clock, cfg, principal, hazard, raw, caption=data.caption, field="data_base64")


def _room_for_one(hazard: Hazard, field: str) -> None:
    if len(hazard.photos) >= MAX_PHOTOS:
        raise InvalidInput(f"a hazard holds at most {MAX_PHOTOS} photos", field=field)


def check_photo(raw: bytes, *, field: str) -> tuple[str, str]:
    """The media type and file extension of `raw`, refused (naming `field`) unless it is a JPEG, PNG, WebP or
    HEIC image of at most 5 MB."""
    if len(raw) > MAX_PHOTO_BYTES:
        raise InvalidInput("the photo is larger than 5 MB", field=field)
    kind = filetype.guess(raw)
    mime = kind.mime if kind is not None else "unknown"
    if mime not in PHOTO_TYPES:
        raise InvalidInput(f"the photo must be a JPEG, PNG, WebP or HEIC image, not {mime}", field=field)
    return mime, kind.extension


def attach_photo(
    db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard: Hazard, raw: bytes, *, caption: str, field: str
) -> Hazard:
    """Attach the photo bytes `raw` to `hazard` (already read in the caller's scope); a refusal names `field`."""
    _room_for_one(hazard, field)
    mime, extension = check_photo(raw, field=field)
    folder = private_dir(cfg.photo_dir / str(hazard.id))
    n = len(hazard.photos) + 1
    path = private_file(folder / f"{n}.{extension}")
    path.write_bytes(raw)
    hazard.photos = [
        *hazard.photos,
        {
            "n": n,
            "file": str(path),
            "type": mime,
            "caption": caption,
            "by": principal.user_id,
            "at": clock.now().isoformat(),
        },
    ]
    record(db, clock, hazard, "photo_added", principal.user_id, n=n, caption=caption)
    return hazard


def photo(db: Session, principal: Principal, hazard_id: int, n: int) -> tuple[Path, str]:
    hazard = get(db, principal, hazard_id)
    for item in hazard.photos:
        if item["n"] == n:
            return Path(item["file"]), str(item["type"])
    raise NotFound(f"hazard {hazard_id} has no photo {n}", field="n")
