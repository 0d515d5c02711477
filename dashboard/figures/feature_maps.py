"""What the network makes of one image (a cifar_core.insights.feature_maps.NetworkView): its feature maps
as grids, and the verdict in words (dashboard/ui/look_inside.py lays them out)."""
import numpy as np

from dashboard.figures.images import tiled_heatmap
from dashboard.ui.words import article


def feature_map_figure(maps, height=440):
    """(H, W, 64) ReLU outputs -> 8x8 grid of greyscale maps on one shared scale (bright = strong response).

    The scale tops out at the 99.5th percentile: a few very strong pixels would otherwise leave every map dark."""
    maps = np.transpose(maps, (2, 0, 1))  # (64, H, W)
    return tiled_heatmap(maps, "gray", 0.0, float(np.percentile(maps, 99.5)) or 1.0, "map", height=height)


def verdict(view, class_names, true_class=None):
    """'The network says **cat** (71%) — right.' (or '; it is an **airplane**.', or '.' without a true class)."""
    text = f"The network says **{class_names[view.predicted]}** ({view.probabilities[view.predicted]:.0%})"
    if true_class is None:
        return text + "."
    if view.predicted == true_class:
        return text + " — right."
    name = class_names[true_class]
    return text + f"; it is {article(name)} **{name}**."
