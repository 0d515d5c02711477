"""Uploaded photos become (32, 32, 3) uint8 images; bad uploads give one friendly UploadError."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from cifar_core.uploads import MAX_PIXELS, MAX_UPLOAD_BYTES, UploadError, image_from_upload

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def encode(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noisy_png():
    """A PNG whose pixel data does not compress, so cutting it anywhere loses real pixels."""
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels))


def png_header_only(width, height):
    """A valid PNG signature and IHDR claiming width x height, with a few bytes of pixel data."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00" * 100)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_all(result, colour):
    assert result.shape == (32, 32, 3) and result.dtype == np.uint8
    assert (result == colour).all(), f"expected every pixel {colour}, got e.g. {result[0, 0]}"


# --- good uploads -----------------------------------------------------------------------------


def test_solid_red_png_becomes_32x32_red():
    result = image_from_upload(encode(Image.new("RGB", (50, 50), RED)))
    assert_all(result, RED)


def test_size_argument_sets_output_side():
    assert image_from_upload(encode(Image.new("RGB", (50, 50), RED)), size=8).shape == (8, 8, 3)


def test_tiny_image_is_scaled_up():
    assert_all(image_from_upload(encode(Image.new("RGB", (1, 1), BLUE))), BLUE)


def test_fully_transparent_rgba_png_becomes_white():
    assert_all(image_from_upload(encode(Image.new("RGBA", (40, 40), (255, 0, 0, 0)))), WHITE)


def test_half_transparent_red_is_blended_with_white():
    result = image_from_upload(encode(Image.new("RGBA", (40, 40), (255, 0, 0, 128))))
    # 255 * 128/255 + 255 * 127/255 = 255 for red; 0 * 128/255 + 255 * 127/255 = 127 for green/blue
    assert (result[..., 0] == 255).all()
    assert (np.abs(result[..., 1:].astype(int) - 127) <= 1).all()


def test_palette_png_keeps_its_colour():
    palette_image = Image.new("RGB", (40, 40), BLUE).convert("P")
    assert palette_image.mode == "P"
    assert_all(image_from_upload(encode(palette_image)), BLUE)


def test_palette_png_transparent_colour_becomes_white():
    palette_image = Image.new("P", (40, 40), 0)
    palette_image.putpalette([0, 0, 255] * 256)
    assert_all(image_from_upload(encode(palette_image, transparency=0)), WHITE)


@pytest.mark.parametrize("mode, colour", [("RGB", (1, 2, 3)), ("L", 7)])
def test_png_transparent_key_colour_becomes_white(mode, colour):
    assert_all(image_from_upload(encode(Image.new(mode, (40, 40), colour), transparency=colour)), WHITE)


@pytest.mark.parametrize("mode, value", [("L", 200), ("LA", (200, 255))])
def test_grayscale_gives_equal_channels(mode, value):
    result = image_from_upload(encode(Image.new(mode, (40, 40), value)))
    assert_all(result, (200, 200, 200))


def test_one_bit_png_gives_black_and_white():
    one_bit = Image.new("1", (40, 40), 1)
    assert_all(image_from_upload(encode(one_bit)), WHITE)


@pytest.mark.parametrize("value, expected", [(65535, 255), (0, 0), (32768, 128), (257 * 50, 50)])
def test_16_bit_png_is_scaled_to_8_bit_not_clipped(value, expected):
    image = Image.new("I;16", (40, 40), value)
    assert image_from_upload(encode(image)).tolist() == np.full((32, 32, 3), expected).tolist()


def test_cmyk_jpeg_becomes_rgb():
    cyan = Image.new("CMYK", (40, 40), (255, 0, 0, 0))  # full cyan ink, no others
    result = image_from_upload(encode(cyan, "JPEG", quality=95)).astype(int)
    assert (np.abs(result - (0, 255, 255)) <= 3).all()


def test_wide_image_is_centre_cropped_not_squashed():
    # 128x64: green | red | blue | green, 32 columns each. The centre 64x64 square is red | blue,
    # so after halving to 32x32 the left half is red and the right half blue; no green survives.
    wide = np.zeros((64, 128, 3), dtype=np.uint8)
    for band, colour in enumerate([GREEN, RED, BLUE, GREEN]):
        wide[:, band * 32 : (band + 1) * 32] = colour
    result = image_from_upload(encode(Image.fromarray(wide)))
    result = result.astype(int)
    assert (np.abs(result[:, :16] - RED) <= 16).all()  # LANCZOS blends a little at the boundary
    assert (np.abs(result[:, 16:] - BLUE) <= 16).all()
    assert result[..., 1].max() == 0  # no green anywhere


def test_tall_image_is_centre_cropped_too():
    tall = np.zeros((64, 32, 3), dtype=np.uint8)
    tall[:16], tall[16:32], tall[32:48], tall[48:] = GREEN, RED, BLUE, GREEN
    result = image_from_upload(encode(Image.fromarray(tall)))
    assert (result[:16] == RED).all() and (result[16:] == BLUE).all()


@pytest.mark.parametrize("orientation, red_side", [(6, "right"), (8, "left"), (1, "top")])
def test_exif_orientation_is_applied(orientation, red_side):
    # Stored landscape 64x32 with a red top edge (8 rows), blue elsewhere. Orientation 6 means the
    # camera was turned clockwise: shown upright, the top edge is on the right; 8 puts it on the left.
    stored = np.zeros((32, 64, 3), dtype=np.uint8)
    stored[:] = BLUE
    stored[:8] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    jpeg = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif)
    result = image_from_upload(jpeg).astype(int)
    edges = {"top": result[:4, 8:-8], "left": result[8:-8, :4], "right": result[8:-8, -4:]}
    for side, pixels in edges.items():
        expected = RED if side == red_side else BLUE
        assert (np.abs(pixels.mean(axis=(0, 1)) - expected) < 30).all(), side


def test_pillow_truncated_image_setting_is_left_alone():
    with pytest.raises(UploadError):
        image_from_upload(noisy_png()[:1000])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- bad uploads: always UploadError with a sentence the learner can act on ---------------------


def test_empty_upload_is_refused():
    with pytest.raises(UploadError, match="empty.*PNG or JPEG"):
        image_from_upload(b"")


def test_over_size_upload_is_refused_before_decoding():
    with pytest.raises(UploadError, match="5 MB limit.*smaller"):
        image_from_upload(b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES)


def test_text_file_is_refused():
    with pytest.raises(UploadError, match="not an image.*PNG or JPEG"):
        image_from_upload(b"name,label\ncat,3\ndog,5\n")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP"])
def test_other_image_formats_are_refused_by_name(fmt):
    data = encode(Image.new("RGB", (40, 40), RED), fmt)
    with pytest.raises(UploadError, match=f"{fmt} image.*not supported.*PNG or JPEG"):
        image_from_upload(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused(fmt):
    data = noisy_png() if fmt == "PNG" else encode(Image.open(io.BytesIO(noisy_png())), "JPEG")
    with pytest.raises(UploadError, match=f"{fmt} file is damaged or incomplete"):
        image_from_upload(data[: len(data) * 2 // 3])


def test_png_cut_anywhere_gives_only_upload_errors():
    data = noisy_png()
    for cut in range(1, len(data) - 12, 97):  # the last 12 bytes are the IEND marker
        with pytest.raises(UploadError):
            image_from_upload(data[:cut])


def test_corrupted_jpeg_gives_only_upload_errors_or_an_image():
    data = bytearray(encode(Image.new("RGB", (40, 40), RED), "JPEG"))
    for position in range(2, len(data), 37):
        broken = bytes(data[:position]) + bytes([data[position] ^ 0xFF]) + bytes(data[position + 1 :])
        try:
            assert image_from_upload(broken).shape == (32, 32, 3)
        except UploadError:
            pass


def test_header_claiming_huge_canvas_is_refused():
    with pytest.raises(UploadError, match="too large.*smaller PNG or JPEG"):
        image_from_upload(png_header_only(20000, 20000))


def test_header_just_over_our_limit_is_refused_before_decoding():
    # 7000 x 6000 = 42 MP: under Pillow's own bomb limit (~89 MP) but over MAX_PIXELS.
    assert 7000 * 6000 > MAX_PIXELS
    with pytest.raises(UploadError, match="too large"):
        image_from_upload(png_header_only(7000, 6000))


def test_real_well_compressed_bomb_is_refused():
    bomb = encode(Image.new("1", (8000, 6000), 0), optimize=True)  # 48 MP in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(UploadError, match="too large.*megapixels"):
        image_from_upload(bomb)
