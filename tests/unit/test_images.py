"""Uploaded photos are decoded and drawn again: a bomb, a page dressed as a PNG and a photo's GPS
position never reach the disk (core.images.clean_photo)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from riskcontrol.core.errors import InvalidInput
from riskcontrol.core.images import clean_photo


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """The signature and header of a PNG declaring its size."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_bomb(width: int, height: int) -> bytes:
    """A well-formed PNG of a few bytes declaring a vast picture: opening it is cheap, decoding is not."""
    return png_header(width, height) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (16, 12), (10, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (39.0, 59.0, 0.0), 3: "E", 4: (116.0, 21.0, 0.0)}  # GPSInfo
    exif[0x0110] = "Phone 15"  # Model
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (png_bomb(60000, 60000), ("pixels",)),  # 3.6 billion pixels declared in a few bytes
        (png_bomb(8000, 6000), ("pixels",)),  # 48 million: above the limit, under Pillow's own
        # Pillow tells this one apart either at opening or at decoding, depending on the plugins loaded.
        (png_header(2, 2) + b"<html><script>alert(1)</script></html>", ("JPEG, PNG or WebP", "cannot be read")),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", ("JPEG, PNG or WebP",)),
        (b"%PDF-1.4 not a photo", ("JPEG, PNG or WebP",)),
    ],
)
def test_what_is_not_a_plain_image_is_refused_naming_the_field(raw: bytes, why: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_photo(raw, field="photo")
    assert refused.value.field == "photo"
    assert any(phrase in str(refused.value) for phrase in why), str(refused.value)


def test_a_photo_keeps_its_pixels_and_loses_its_gps_position() -> None:
    raw = jpeg_with_gps()
    with Image.open(io.BytesIO(raw)) as original:
        assert 0x8825 in original.getexif()
    photo = clean_photo(raw, field="photo")
    assert (photo.mime, photo.extension) == ("image/jpeg", "jpg")
    with Image.open(io.BytesIO(photo.data)) as cleaned:
        assert cleaned.size == (16, 12)
        assert dict(cleaned.getexif()) == {}
    assert b"Phone 15" not in photo.data
