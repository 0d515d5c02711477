"""Drawing helpers shared by the pages (Train, Augmentation, Filters, Feature maps, Confusion matrix).

Arrays in, plotly figures or Streamlit images out; no TensorFlow here except
through `show_network_view`, which asks cifar_core.analysis for the arrays.
"""
import base64
import html
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

LAYER_LABELS = {"layer_conv1": "conv1", "layer_conv2": "conv2"}


def upscale(image, factor=8):
    """(H, W, 3) uint8 or float in [0, 1] -> (H*factor, W*factor, 3) uint8; nearest keeps the real pixels."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((w * factor, h * factor), Image.Resampling.NEAREST))


def pixels_html(image, caption, smooth=False):
    """One small image as HTML, sent inline (no separate request per image): the 32x32 PNG itself, scaled to
    the column's width by the browser, pixelated (the real pixels) or smooth (bilinear)."""
    png = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(png, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    rendering = "auto" if smooth else "pixelated"
    return (f'<figure class="pixels" style="margin:0"><img src="{source}" alt="{html.escape(caption)}" '
            f'style="width:100%;image-rendering:{rendering}"><figcaption style="text-align:center;'
            f'font-size:0.85em">{html.escape(caption)}</figcaption></figure>')


def image_grid(images, columns, captions=None, factor=4):
    """Show images in rows of `columns`, each upscaled with nearest neighbour so pixels stay visible."""
    captions = captions or [None] * len(images)
    for start in range(0, len(images), columns):
        cells = st.columns(columns)
        for cell, image, caption in zip(cells, images[start:start + columns], captions[start:start + columns]):
            cell.image(upscale(image, factor), caption=caption, width="stretch")


def thin(steps, values, most):
    """At most `most` points, each the mean of a run of consecutive ones (a 36,000-step run logs 3,600)."""
    if len(steps) <= most:
        return list(steps), list(values)
    groups = np.arange(len(steps)) // -(-len(steps) // most)  # (N,) group of each point
    counts = np.bincount(groups)
    means = np.bincount(groups, weights=np.asarray(values, float)) / counts
    return np.asarray(steps)[np.cumsum(counts) - 1].tolist(), means.tolist()  # at each group's last step


def tile(maps, columns=8, gap=1):
    """(H, W, N) or (N, H, W) stack -> one (rows*(H+gap)-gap, columns*(W+gap)-gap) array, NaN in the gaps,
    plus the same-shaped array of map numbers (-1 in the gaps) for hover text."""
    n, h, w = maps.shape
    rows = -(-n // columns)
    tiled = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, dtype=np.float32)
    number = np.full(tiled.shape, -1, dtype=np.int32)
    for i in range(n):
        r, c = divmod(i, columns)
        tiled[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
        number[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = i
    return tiled, number


def _grid_figure(maps, colorscale, zmin, zmax, what, height, zmid=None):
    tiled, number = tile(maps)
    fig = go.Figure(go.Heatmap(
        z=tiled, customdata=number, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
        hovertemplate=f"{what} %{{customdata}}<br>value %{{z:.3f}}<extra></extra>", hoverongaps=False,
        colorbar=dict(thickness=12, len=0.8)))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")  # row 0 at the top, square pixels
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="rgba(0,0,0,0)")
    return fig


def filter_grid_figure(weights):
    """(64, 5, 5) weights -> 8x8 grid of heatmaps, red positive, blue negative, white zero."""
    m = float(np.abs(weights).max()) or 1.0
    return _grid_figure(weights, "RdBu_r", -m, m, "filter", height=560, zmid=0.0)


def feature_map_figure(maps, height=440):
    """(H, W, 64) ReLU outputs -> 8x8 grid of greyscale maps on one shared scale (bright = strong response).

    The scale tops out at the 99.5th percentile: a few very strong pixels would otherwise leave every map dark."""
    maps = np.transpose(maps, (2, 0, 1))  # (64, H, W)
    return _grid_figure(maps, "gray", 0.0, float(np.percentile(maps, 99.5)) or 1.0, "map", height=height)


def probability_figure(probabilities, class_names, true_class=None):
    """Horizontal bars of the ten class probabilities; the true class green, other predictions grey."""
    predicted = int(np.argmax(probabilities))
    colours = ["#2ca02c" if i == true_class else "#d62728" if i == predicted else "#9aa5b1"
               for i in range(len(class_names))]
    names = [f"{name} (true)" if i == true_class else name for i, name in enumerate(class_names)]
    fig = go.Figure(go.Bar(x=probabilities, y=names, orientation="h", marker_color=colours,
                           text=[f"{p:.0%}" for p in probabilities], textposition="outside",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", title="probability")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=340, margin=dict(l=0, r=10, t=10, b=0), showlegend=False)
    return fig


def show_network_view(inference, image, class_names, true_class=None, key="view"):
    """What the network makes of one image: the image, its class probabilities, conv1 and conv2 maps."""
    from cifar_core import analysis
    maps, probabilities = analysis.feature_maps(inference, image)
    predicted = int(np.argmax(probabilities))
    left, right = st.columns([1, 2])
    with left:
        raw, smooth = st.columns(2)
        raw.html(pixels_html(image, "raw pixels (32x32)"))
        smooth.html(pixels_html(image, "smoothed", smooth=True))
        verdict = f"The network says **{class_names[predicted]}** ({probabilities[predicted]:.0%})"
        if true_class is None:
            verdict += "."
        else:
            verdict += " — right." if predicted == true_class else f"; it is a **{class_names[true_class]}**."
        st.markdown(verdict)
    with right:
        st.plotly_chart(probability_figure(probabilities, class_names, true_class), key=f"{key}_probs")
    conv1, conv2 = st.columns(2)
    with conv1:
        st.markdown("**conv1**: 64 maps of 24x24, after ReLU (one per filter)")
        st.plotly_chart(feature_map_figure(maps["layer_conv1"]), key=f"{key}_conv1")
    with conv2:
        st.markdown("**conv2**: 64 maps of 12x12, after ReLU (built from conv1's pooled maps)")
        st.plotly_chart(feature_map_figure(maps["layer_conv2"]), key=f"{key}_conv2")


def confusion_figure(matrix, names, normalise, hide_diagonal, cell):
    """Heatmap of the counts + one invisible square marker per cell, so that a click reports its cell."""
    rows = matrix.sum(axis=1, keepdims=True)
    z = matrix / np.maximum(rows, 1) if normalise else matrix.astype(float)
    text = np.array([[f"{v:.0%}" for v in row] for row in z] if normalise else
                    [[f"{v:,}" for v in row] for row in matrix], dtype=object)
    if hide_diagonal:
        np.fill_diagonal(z, np.nan)
        np.fill_diagonal(text, "")
    n = len(names)
    true, pred = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # (10, 10) each
    fig = go.Figure(go.Heatmap(z=z, x=np.arange(n), y=np.arange(n), text=text, texttemplate="%{text}",
                               colorscale="Blues", hoverinfo="skip", colorbar=dict(thickness=12)))
    # customdata as a plain list: a numpy array goes out base64-encoded, and a click then reports
    # each point's customdata as a {"0": .., "1": .., "2": ..} dict instead of a list.
    cells = np.stack([true.ravel(), pred.ravel(), matrix.ravel()], axis=1).tolist()  # [[true, predicted, count]]
    fig.add_trace(go.Scatter(
        x=pred.ravel().tolist(), y=true.ravel().tolist(), mode="markers", marker=dict(symbol="square", size=28, opacity=0),
        customdata=cells, text=[f"true {names[t]}, predicted {names[p]}" for t, p in zip(true.ravel(), pred.ravel())],
        hovertemplate="%{text}: %{customdata[2]} images<extra></extra>", showlegend=False))
    if cell is not None:
        fig.add_shape(type="rect", x0=cell[1] - 0.5, x1=cell[1] + 0.5, y0=cell[0] - 0.5, y1=cell[0] + 0.5,
                      line=dict(color="#ff7f0e", width=3))
    fig.update_xaxes(tickvals=list(range(n)), ticktext=names, title="predicted class", side="top")
    fig.update_yaxes(tickvals=list(range(n)), ticktext=names, title="true class", autorange="reversed")
    fig.update_layout(height=560, margin=dict(l=0, r=0, t=40, b=0), hoverdistance=-1)
    return fig


def per_class_figure(per_class_accuracy, names):
    """Bars of the accuracy on each true class."""
    fig = go.Figure(go.Bar(x=names, y=per_class_accuracy, marker_color="#1f77b4",
                           text=[f"{a:.0%}" for a in per_class_accuracy], textposition="outside"))
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%", title="accuracy per true class")
    fig.update_layout(height=240, margin=dict(l=0, r=0, t=10, b=0))
    return fig
