"""Why this answer? One cifar_core.insights.explanations.Explanation drawn over its picture, with one sentence
of how to read it. Arrays in, HTML out; nothing computed here but colours.

The network sees only the picture's centre 24x24 crop, so each map is drawn on that square of the 32x32
picture; the 4-pixel border, which never reaches the network, is washed out grey.
"""
import numpy as np
from plotly.colors import hex_to_rgb, sequential

from cifar_core.insights.explanations import (  # no TensorFlow
    CROP_ORIGIN, CROP_SIZE, OCCLUSION_PATCH, SMOOTHGRAD_SAMPLES)
from dashboard.figures.images import pixels_html, upscale

LABELS = {"gradcam": "Grad-CAM", "smoothgrad": "Saliency", "integrated_gradients": "Integrated gradients",
          "occlusion": "Occlusion"}
FACTOR = 8        # screen pixels per image pixel: 32x32 -> 256x256
OPACITY = 0.75    # the heat colour's opacity where the map is strongest; it fades to clear where the map is 0
CROP_NOTE = ("The network sees only the centre 24x24 of the picture: the map covers that square; the grey "
             "border was cut off before the network.")

# Inferno (black -> purple -> orange -> pale yellow): its brightness grows steadily, so it reads in greyscale too.
_ANCHORS = np.array([hex_to_rgb(colour) for colour in sequential.Inferno], np.float32)  # (10, 3)
COLOURS = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, i])
                    for i in range(3)], axis=-1)  # (256, 3) float 0..255


def how_to_read(explanation, class_name):
    """One sentence: what a bright place means for this method, for this class (markdown)."""
    name, e = f"**{class_name}**", explanation
    patch = f"{OCCLUSION_PATCH}x{OCCLUSION_PATCH}"
    return {
        "gradcam": f"Bright regions are where conv2's maps pushed the {name} score up most: a coarse answer to "
                   "\"where\" (conv2 sees 12x12 places), not to \"which pixel\".",
        "smoothgrad": f"Bright pixels are those whose small changes would move the {name} score most (averaged "
                      f"over {SMOOTHGRAD_SAMPLES} noisy copies, so the speckle cancels out): sensitivity, not "
                      "necessarily importance.",
        "integrated_gradients": f"Bright pixels account for most of the {name} score gained on the way from a "
                                f"black image to this one (all pixels together: {e.values.sum():+.2f}).",
        "occlusion": f"Bright places are where a grey {patch} patch hiding them lowers the {name} score most "
                     f"(at most by {e.values.max():.2f}): the parts the network needs for this answer.",
    }[e.method]


def heat_colours(heat):
    """(H, W) heat in [0, 1] -> (H, W, 3) float 0..255 colours of the Inferno scale."""
    return COLOURS[np.clip(np.round(np.asarray(heat) * 255), 0, 255).astype(np.int32)]


def overlay(image, heat, alone=False):
    """(32, 32, 3) uint8 picture + (24, 24) heat of its centre crop -> (256, 256, 3) uint8: the heat colour,
    `OPACITY` at its strongest, over the crop (or the heat alone); the border the network never sees washed out."""
    picture = upscale(image, FACTOR).astype(np.float32)
    out = 0.35 * picture + 0.65 * 200.0  # the washed-out border
    heat = np.kron(np.asarray(heat, np.float32), np.ones((FACTOR, FACTOR), np.float32))  # nearest: pixels line up
    inside = slice(CROP_ORIGIN * FACTOR, (CROP_ORIGIN + CROP_SIZE) * FACTOR)
    if alone:
        out[inside, inside] = heat_colours(heat)
    else:
        alpha = OPACITY * heat[..., None]
        out[inside, inside] = (1 - alpha) * picture[inside, inside] + alpha * heat_colours(heat)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def explanation_html(explanation, image, class_name):
    """The heat over the picture and the heat alone, side by side, each captioned."""
    label = LABELS[explanation.method]
    cells = [pixels_html(overlay(image, explanation.heat), f"{label} for {class_name}, over the picture"),
             pixels_html(overlay(image, explanation.heat, alone=True), "the map alone (dark: none, yellow: most)")]
    return ('<div style="display:flex;gap:0.75rem;max-width:34rem">'
            + "".join(f'<div style="flex:1">{cell}</div>' for cell in cells) + "</div>")
