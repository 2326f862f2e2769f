"""Pictures: the first-frame rules and check, the one-click fixes, and the pictures waiting for them.

- rules.py: every limit and every sentence, once (the Generate page's script gets the numbers from
  fixing.browser_rules);
- check.py: check_image, the verdict on bytes we would send upstream;
- jpeg.py, png.py: one structure reader per format, used by the check and the fixes alike;
- exif.py: EXIF orientation, read by hand;
- sources.py, fixing.py: reading a picture to fix (JPEG, PNG, WebP, GIF) and redrawing it;
- staging.py: pictures waiting for a fix or kept from a refused submit, per person;
- uploads.py: upload handlers that stop reading a file past its limit, or a request whose files
  together pass the most a valid submit carries (request_max_bytes);
- batch_pictures.py: a batch's pictures across round trips of the Generate page.

The check's names below are the package's public face; the fixes are imported as
`from playground.pictures import fixing`, since they need Django's settings.
"""

from playground.pictures.check import check_image, read_capped, stored_size
from playground.pictures.exif import exif_orientation
from playground.pictures.rules import (
    EMPTY,
    MAX_BYTES,
    MAX_INPUT_BYTES,
    MAX_JPEG_PIXELS,
    MAX_PIXELS,
    MIN_SHORT_SIDE,
    TOO_LARGE_TO_FIX,
    CheckedImage,
    ImageRejected,
    megabytes,
    ratio_allowed,
)

__all__ = [
    "EMPTY",
    "MAX_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_JPEG_PIXELS",
    "MAX_PIXELS",
    "MIN_SHORT_SIDE",
    "TOO_LARGE_TO_FIX",
    "CheckedImage",
    "ImageRejected",
    "check_image",
    "exif_orientation",
    "megabytes",
    "ratio_allowed",
    "read_capped",
    "stored_size",
]
