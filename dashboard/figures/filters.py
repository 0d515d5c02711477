"""The learned filters as a grid of small heatmaps (from cifar_core.insights.filters' arrays)."""
import numpy as np

from dashboard.figures.images import tiled_heatmap


def filter_grid_figure(weights):
    """(64, 5, 5) weights -> 8x8 grid of heatmaps, red positive, blue negative, white zero."""
    m = float(np.abs(weights).max()) or 1.0
    return tiled_heatmap(weights, "RdBu_r", -m, m, "filter", height=560, zmid=0.0)
