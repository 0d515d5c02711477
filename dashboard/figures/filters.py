"""The learned filters as a grid of small heatmaps or colour patches (cifar_core.insights.filters' arrays)."""
import numpy as np
import plotly.graph_objects as go

from dashboard.figures.images import tile, tiled_heatmap

GAP_COLOUR = (255, 255, 255)  # white gaps: grey would merge with a patch's zero weights


def filter_grid_figure(weights):
    """(64, 5, 5) weights -> 8x8 grid of heatmaps, red positive, blue negative, white zero."""
    m = float(np.abs(weights).max()) or 1.0
    return tiled_heatmap(weights, "RdBu_r", -m, m, "filter", height=560, zmid=0.0)


def colour_patches_figure(patches, height=560):
    """(64, 5, 5, 3) colour patches in 0..1 -> one image, 8 per row, white gaps; hover names the filter."""
    channels = [tile(patches[..., c]) for c in range(3)]  # 3 x ((rows*6-1, 47) with NaN gaps, filter numbers)
    number = channels[0][1]                                # (rows*6-1, 47): filter number, -1 in the gaps
    rgb = np.stack([tiled for tiled, _ in channels], axis=-1)  # (rows*6-1, 47, 3)
    rgb = np.where(number[..., None] < 0, np.array(GAP_COLOUR) / 255.0, rgb)
    pixels = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    hover = np.where(number < 0, "", np.char.add("filter ", number.astype(str)))  # (rows*6-1, 47)
    fig = go.Figure(go.Image(z=pixels, text=hover, hovertemplate="%{text}<extra></extra>"))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x")  # go.Image: row 0 at the top already, square pixels
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="rgba(0,0,0,0)")
    return fig
