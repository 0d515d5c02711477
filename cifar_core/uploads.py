"""Turn a learner's uploaded photo into a CIFAR-sized image the network can read.

`image_from_upload(data)` -> uint8 array (size, size, 3), or a friendly `UploadError`
whose message the page can show as it is. Only PNG and JPEG are accepted.
"""

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A phone photo is 2-5 MB as JPEG; anything bigger is not worth reading for a 32x32 result,
# and Streamlit keeps the whole upload in memory.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Decompression-bomb guard: a tiny PNG can claim a huge canvas. 40 megapixels covers any phone
# camera and caps the decoded RGBA at ~160 MB. Stricter than Pillow's own limit (~89 MP), and
# checked from the header before any pixel is decoded.
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = ("PNG", "JPEG", "MPO")  # MPO: the JPEG variant many phone cameras write
WHITE = (255, 255, 255, 255)


class UploadError(ValueError):
    """An upload we cannot use; the message is one sentence meant for the learner."""


def image_from_upload(data: bytes, size: int = 32) -> np.ndarray:
    """Decode PNG/JPEG bytes into a uint8 (size, size, 3) RGB array, centre-cropped to a square."""
    if not data:
        raise UploadError("The upload is empty; please choose a PNG or JPEG photo.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"This file is {len(data) / 2**20:.1f} MB, over the {MAX_UPLOAD_BYTES // 2**20} MB limit; "
            "please upload a smaller PNG or JPEG photo."
        )
    image = _open_checked(data)
    image = _to_rgb(ImageOps.exif_transpose(image))
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    square = square.resize((size, size), Image.Resampling.LANCZOS)  # LANCZOS: sharp, little aliasing
    return np.asarray(square, dtype=np.uint8)  # (size, size, 3)


def _open_checked(data: bytes) -> Image.Image:
    """Open, check format and header size, then fully decode (so truncation shows up here)."""
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise UploadError(
            "This file is not an image we can read; please upload a PNG or JPEG photo."
        ) from error
    if image.format not in ACCEPTED_FORMATS:
        raise UploadError(
            f"This is a {image.format} image, which is not supported; please upload a PNG or JPEG photo."
        )
    if image.width * image.height > MAX_PIXELS:
        raise _too_many_pixels(image.size)
    try:
        image.load()  # decodes every pixel; LOAD_TRUNCATED_IMAGES stays False, so a cut file raises
    except Image.DecompressionBombError:
        raise _too_many_pixels(image.size) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as error:
        raise UploadError(
            f"This {image.format} file is damaged or incomplete; please upload the photo again "
            "or try a different one."
        ) from error
    return image


def _too_many_pixels(size: tuple[int, int] | None = None) -> UploadError:
    claimed = f" ({size[0]} x {size[1]} pixels)" if size else ""
    return UploadError(
        f"This image is too large{claimed}, over {MAX_PIXELS // 1_000_000} megapixels; "
        "please upload a smaller PNG or JPEG photo."
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PNG/JPEG mode -> RGB. Transparent areas become white; 16-bit is scaled, not clipped."""
    if image.mode.startswith("I"):  # 16-bit grayscale PNG ("I;16", "I;16B", "I"): 0..65535
        values = np.asarray(image, dtype=np.float64)
        gray = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)  # 65535 / 257 = 255
        return Image.fromarray(gray).convert("RGB")
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")  # P, L, LA, RGB with a transparent colour, RGBA, ...
        return Image.alpha_composite(Image.new("RGBA", image.size, WHITE), rgba).convert("RGB")
    return image.convert("RGB")  # 1, L, P, RGB, CMYK, YCbCr
