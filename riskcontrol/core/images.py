"""Photos people upload, made safe to keep and to serve: decoded and drawn again from their pixels
(Pillow), so what is stored is an image and nothing else — no file that only starts like one, no
picture so large it exhausts memory, no metadata (EXIF: GPS position, device, time)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.i18n import phrase

MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
# A phone camera's photo is at most a few tens of megapixels; beyond this a "photo" is a bomb.
MAX_PIXELS: Final = 40_000_000
TOO_MANY_PIXELS: Final = phrase("refusal.photo.too_many_pixels", millions=MAX_PIXELS // 1_000_000)
# Pillow's format name → (media type, file extension, what to save with).
FORMATS: Final[dict[str, tuple[str, str, dict[str, object]]]] = {
    "JPEG": ("image/jpeg", "jpg", {"quality": 88, "optimize": True}),
    "PNG": ("image/png", "png", {"optimize": True}),
    "WEBP": ("image/webp", "webp", {"quality": 88}),
}


@dataclass(frozen=True)
class Photo:
    data: bytes
    mime: str
    extension: str


def clean_photo(raw: bytes, *, field: str) -> Photo:
    """`raw` decoded and encoded again without metadata, turned the way it was taken; refused (naming
    `field`) unless it is a JPEG, PNG or WebP image of at most 5 MB and MAX_PIXELS pixels."""
    if len(raw) > MAX_PHOTO_BYTES:
        raise InvalidInput(phrase("refusal.photo.too_large", megabytes=MAX_PHOTO_BYTES // (1024 * 1024)), field=field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as opened:
                kind = opened.format or ""
                if kind not in FORMATS:
                    refusal = phrase("refusal.photo.wrong_kind", kind=kind) if kind else phrase("refusal.photo.unknown")
                    raise InvalidInput(refusal, field=field)
                if opened.width * opened.height > MAX_PIXELS:
                    raise InvalidInput(TOO_MANY_PIXELS, field=field)
                opened.load()  # decodes every pixel: a file that only starts like an image fails here
                picture = ImageOps.exif_transpose(opened)
    except UnidentifiedImageError as exc:
        raise InvalidInput(phrase("refusal.photo.unknown"), field=field) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(TOO_MANY_PIXELS, field=field) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # it starts like an image and then is not one
        raise InvalidInput(phrase("refusal.photo.unreadable"), field=field) from exc
    mime, extension, options = FORMATS[kind]
    if kind == "JPEG" and picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    out = io.BytesIO()
    # Drawn again from the pixels: no EXIF, no XMP, no ICC-embedded surprises, no trailing bytes.
    clean = Image.new(picture.mode, picture.size)
    clean.paste(picture)
    clean.save(out, format=kind, **options)
    return Photo(out.getvalue(), mime, extension)
