"""Photos of a hazard: sniffed to be an image, at most 5 MB and 10 a hazard, kept under var/, served back in scope."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from riskcontrol.core.clock import Clock
from riskcontrol.core.errors import InvalidInput, NotFound
from riskcontrol.core.i18n import phrase
from riskcontrol.core.images import Photo, clean_photo
from riskcontrol.core.private import private_dir, private_file
from riskcontrol.core.security import Principal
from riskcontrol.hazards.models import Hazard
from riskcontrol.hazards.schemas import PhotoIn
from riskcontrol.hazards.service import HazardConfig, get, record

MAX_PHOTOS: Final = 10


def add_photo(db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard_id: int, data: PhotoIn) -> Hazard:
    """Attach a photo (JPEG, PNG, WebP or HEIC, at most 5 MB) to a hazard; the file is kept under var/."""
    hazard = get(db, principal, hazard_id)
    _room_for_one(hazard, "data_base64")
    try:
        raw = base64.b64decode(data.data_base64, validate=True)
    except ValueError as exc:
        raise InvalidInput(phrase("refusal.photo.not_base64"), field="data_base64") from exc
    return attach_photo(db, clock, cfg, principal, hazard, raw, caption=data.caption, field="data_base64")


def _room_for_one(hazard: Hazard, field: str) -> None:
    if len(hazard.photos) >= MAX_PHOTOS:
        raise InvalidInput(phrase("refusal.hazard.too_many_photos", max=MAX_PHOTOS), field=field)


def check_photo(raw: bytes, *, field: str) -> Photo:
    """`raw` as a clean image (see `core.images.clean_photo`), refused naming `field` otherwise."""
    return clean_photo(raw, field=field)


def attach_photo(
    db: Session, clock: Clock, cfg: HazardConfig, principal: Principal, hazard: Hazard, raw: bytes, *, caption: str, field: str
) -> Hazard:
    """Attach the photo bytes `raw` to `hazard` (already read in the caller's scope); a refusal names `field`."""
    _room_for_one(hazard, field)
    photo = check_photo(raw, field=field)
    mime = photo.mime
    folder = private_dir(cfg.photo_dir / str(hazard.id))
    n = len(hazard.photos) + 1
    path = private_file(folder / f"{n}.{photo.extension}")
    path.write_bytes(photo.data)
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
    raise NotFound(phrase("refusal.hazard.no_photo", id=hazard_id, n=n), field="n")
