"""Real Pillow images for tests, with no Django in sight.

Kept apart from the factories so that the image corpus can run in a fresh interpreter
(`python -m tests.imagecorpus`, the memory probes) without loading Django's apps first.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw


def image_bytes(width: int, height: int, fmt: str = "PNG", *, mode: str = "RGB", **save_kwargs: Any) -> bytes:
    """An image of the given size with a few stripes, encoded in the given Pillow format."""
    image = Image.new(mode, (width, height), "orange" if mode in {"RGB", "RGBA"} else 128)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, max(1, width // 8)):
        draw.line([(x, 0), (x, height)], fill="navy" if mode in {"RGB", "RGBA"} else 20, width=3)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()
