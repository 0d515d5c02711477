"""The map of the test set (cifar_core.insights.embedding): one clickable scattergl trace of every test image,
coloured by its class or by whether the network got it right."""
import numpy as np
import plotly.graph_objects as go

from dashboard.figures.probabilities import RIGHT, WRONG

FONT = dict(size=14)  # readable on a classroom projector
# Plotly's ten category colours, one per CIFAR-10 class (airplane blue, automobile orange, bird green ...).
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
CHOSEN = "#000000"


def point_colours(labels, predicted, colour_by):
    """-> (one colour number per test image, the colours they stand for): its class (colour_by="class"), or
    0 right (green) / 1 wrong (red) ("right"). Numbers, not 10,000 colour strings: plotly checks those one by one
    (0.2 s a figure)."""
    if colour_by == "class":
        return labels, CLASS_COLOURS
    return (labels != predicted).astype(np.int8), (RIGHT, WRONG)


def steps(colours):
    """A colorscale giving colour number i (of cmin -0.5 .. cmax len - 0.5) exactly colours[i]."""
    n = len(colours)
    return [[edge, colour] for i, colour in enumerate(colours) for edge in (i / n, (i + 1) / n)]


def hover_texts(labels, predicted, confidence, class_names):
    """'#17 · cat, answered dog (64%)', one per test image."""
    return [f"#{i} · {class_names[t]}, answered {class_names[p]} ({c:.0%})"
            for i, (t, p, c) in enumerate(zip(labels.tolist(), predicted.tolist(), confidence.tolist()))]


def map_figure(xy, labels, predicted, confidence, class_names, colour_by="class", chosen=None):
    """xy (N, 2) map positions; labels, predicted (N,) class indices; confidence (N,) the answer's probability.

    One scattergl trace whose customdata is each point's test index (a plain list: a numpy array comes back
    garbled from a click); the legend is drawn by empty traces, so a click always reports that one trace.
    `chosen`: a test index ringed in black, or None."""
    codes, colours = point_colours(labels, predicted, colour_by)
    fig = go.Figure(go.Scattergl(
        x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=list(range(len(xy))),
        text=hover_texts(labels, predicted, confidence, class_names), hovertemplate="%{text}<extra></extra>",
        marker=dict(color=codes.tolist(), colorscale=steps(colours), cmin=-0.5, cmax=len(colours) - 0.5, size=5,
                    opacity=0.75),
        unselected=dict(marker=dict(opacity=0.75)),  # a click must not fade the other 9,999 points
        showlegend=False))
    for name, colour in zip(class_names if colour_by == "class" else ("right", "wrong"), colours):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(color=colour, size=10)))
    if chosen is not None:
        fig.add_trace(go.Scatter(x=[xy[chosen, 0]], y=[xy[chosen, 1]], mode="markers", customdata=[chosen],
                                 hoverinfo="skip", showlegend=False,
                                 marker=dict(symbol="circle-open", size=18, color=CHOSEN, line=dict(width=3))))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    # Equal scales: a distance on the map means the same across and up.
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None, scaleanchor="x")
    fig.update_layout(height=620, margin=dict(l=0, r=0, t=10, b=0), font=FONT, hovermode="closest",
                      legend=dict(itemclick=False, itemdoubleclick=False))
    return fig
