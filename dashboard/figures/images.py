"""Small images and grids of small maps: arrays in, Streamlit images, HTML or plotly heatmaps out."""
import base64
import html
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image


def upscale(image, factor=8):
    """(H, W, 3) uint8 or float in [0, 1] -> (H*factor, W*factor, 3) uint8; nearest keeps the real pixels."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((w * factor, h * factor), Image.Resampling.NEAREST))


# A caption wraps only between words, and its font shrinks with a narrow column (to 15% of the figure's width,
# cqw; 8 px at least) so that a long class name such as "automobile" fits on one line in a row of ten.
CAPTION_STYLE = ("text-align:center;font-size:clamp(8px,15cqw,0.85em);overflow-wrap:normal;word-break:normal;"
                 "hyphens:manual")


def pixels_html(image, caption, smooth=False):
    """One small image as HTML, sent inline (no separate request per image): the 32x32 PNG itself, scaled to
    the column's width by the browser, pixelated (the real pixels) or smooth (bilinear)."""
    png = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(png, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    rendering = "auto" if smooth else "pixelated"
    return (f'<figure class="pixels" style="margin:0;container-type:inline-size"><img src="{source}" '
            f'alt="{html.escape(caption)}" style="width:100%;image-rendering:{rendering}">'
            f'<figcaption style="{CAPTION_STYLE}">{html.escape(caption)}</figcaption></figure>')


def image_grid(images, columns, captions=None, factor=4):
    """Show images in rows of `columns`, each upscaled with nearest neighbour so pixels stay visible."""
    captions = captions or [None] * len(images)
    for start in range(0, len(images), columns):
        cells = st.columns(columns)
        for cell, image, caption in zip(cells, images[start:start + columns], captions[start:start + columns]):
            cell.image(upscale(image, factor), caption=caption, width="stretch")


def tile(maps, columns=8, gap=1):
    """(N, H, W) stack -> one (rows*(H+gap)-gap, columns*(W+gap)-gap) array, NaN in the gaps,
    plus the same-shaped array of map numbers (-1 in the gaps) for hover text."""
    n, h, w = maps.shape
    rows = -(-n // columns)
    tiled = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, dtype=np.float32)
    # int8 while it fits: the numbers travel to the browser with the maps (a quarter of int32's bytes)
    number = np.full(tiled.shape, -1, dtype=np.int8 if n < 128 else np.int32)
    for i in range(n):
        r, c = divmod(i, columns)
        tiled[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
        number[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = i
    return tiled, number


def tiled_heatmap(maps, colorscale, zmin, zmax, what, height, zmid=None):
    """(N, H, W) maps as one heatmap of 8 per row on one colour scale; hover names the map ("what" N)."""
    tiled, number = tile(maps)
    fig = go.Figure(go.Heatmap(
        z=tiled, customdata=number, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
        hovertemplate=f"{what} %{{customdata}}<br>value %{{z:.3f}}<extra></extra>", hoverongaps=False,
        colorbar=dict(thickness=12, len=0.8)))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")  # row 0 at the top, square pixels
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="rgba(0,0,0,0)")
    return fig
