"""The confusion matrix (a cifar_core.insights.confusion.Confusion) as a clickable heatmap, per-class bars, and
the change between two training steps (a ConfusionChange) as a diverging heatmap."""
import numpy as np
import plotly.graph_objects as go

FONT = dict(size=14)  # readable on a classroom projector
BEFORE_COLOUR, AFTER_COLOUR = "#9aa5b1", "#1f77b4"
# Diverging: blue = fewer images in the cell than before, white = unchanged, red = more.
DIFFERENCE_SCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#ffffff"], [0.75, "#f4a582"], [1.0, "#b2182b"]]


def _add_clickable_cells(fig, names, customdata, hover):
    """One invisible square marker per cell, so that a click anywhere in a cell reports its customdata
    (a plain list per cell starting [true, predicted, ...]); `hover`: one text per cell, row by row."""
    n = len(names)
    true, pred = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # (10, 10) each
    # customdata as a plain list: a numpy array goes out base64-encoded, and a click then reports
    # each point's customdata as a {"0": .., "1": .., "2": ..} dict instead of a list.
    fig.add_trace(go.Scatter(
        x=pred.ravel().tolist(), y=true.ravel().tolist(), mode="markers", marker=dict(symbol="square", size=28, opacity=0),
        customdata=customdata, text=hover, hovertemplate="%{text}<extra></extra>", showlegend=False))


def _finish_matrix(fig, names, cell, title=None):
    """Outline the chosen cell (true, predicted) or None; class names on both axes."""
    n = len(names)
    if cell is not None:
        fig.add_shape(type="rect", x0=cell[1] - 0.5, x1=cell[1] + 0.5, y0=cell[0] - 0.5, y1=cell[0] + 0.5,
                      line=dict(color="#ff7f0e", width=3))
    fig.update_xaxes(tickvals=list(range(n)), ticktext=names, title="predicted class", side="top")
    fig.update_yaxes(tickvals=list(range(n)), ticktext=names, title="true class", autorange="reversed")
    fig.update_layout(height=600 if title else 560, margin=dict(l=0, r=0, t=100 if title else 40, b=0),
                      hoverdistance=-1, font=FONT, title=dict(text=title, font=FONT) if title else None)
    return fig


def _cell_names(names):
    n = len(names)
    return [f"true {names[t]}, predicted {names[p]}" for t in range(n) for p in range(n)]


def confusion_figure(result, names, normalise, hide_diagonal, cell):
    """Heatmap of the counts (or row fractions) + one invisible square marker per cell, so that a click
    reports its cell; `cell` (true, predicted) or None is outlined."""
    matrix = result.matrix
    z = result.normalised() if normalise else matrix.astype(float)
    text = np.array([[f"{v:.0%}" for v in row] for row in z] if normalise else
                    [[f"{v:,}" for v in row] for row in matrix], dtype=object)
    if hide_diagonal:
        np.fill_diagonal(z, np.nan)
        np.fill_diagonal(text, "")
    n = len(names)
    fig = go.Figure(go.Heatmap(z=z, x=np.arange(n), y=np.arange(n), text=text, texttemplate="%{text}",
                               colorscale="Blues", hoverinfo="skip", colorbar=dict(thickness=12)))
    true, pred = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    cells = np.stack([true.ravel(), pred.ravel(), matrix.ravel()], axis=1).tolist()  # [[true, predicted, count]]
    hover = [f"{where}: {count:,} images" for where, count in zip(_cell_names(names), matrix.ravel())]
    _add_clickable_cells(fig, names, cells, hover)
    return _finish_matrix(fig, names, cell)


def _change_words(difference, on_diagonal):
    if difference == 0:
        return "unchanged"
    if on_diagonal:
        return "more right answers: good" if difference > 0 else "fewer right answers: worse"
    return "this confusion grew: worse" if difference > 0 else "this confusion shrank: better"


def difference_figure(change, names, normalise, hide_diagonal, cell, before_label, after_label):
    """Diverging heatmap of how each cell changed from `before_label` to `after_label` (red: more images,
    blue: fewer, white: the same), clickable like confusion_figure (customdata [true, predicted, change,
    count before, count after]).

    The colours span the biggest change off the diagonal: there the mistakes are, and the diagonal, which
    grows most as the network learns, would otherwise wash them out (its cells saturate; their numbers stay)."""
    n = len(names)
    z = change.normalised_difference() if normalise else change.difference.astype(float)
    text = np.array([[("" if v == 0 else f"{v:+.0%}" if normalise else f"{v:+,.0f}").replace("-", "−")
                      for v in row] for row in z], dtype=object)
    off = ~np.eye(n, dtype=bool)
    if hide_diagonal:
        np.fill_diagonal(z, np.nan)
        np.fill_diagonal(text, "")
    reach = float(np.abs(z[off]).max()) or float(np.nanmax(np.abs(z))) or 1.0  # nanmax: a hidden diagonal
    fig = go.Figure(go.Heatmap(z=z, x=np.arange(n), y=np.arange(n), text=text, texttemplate="%{text}",
                               colorscale=DIFFERENCE_SCALE, zmid=0, zmin=-reach, zmax=reach, hoverinfo="skip",
                               colorbar=dict(thickness=12, title=dict(text="change", side="right"))))
    true, pred = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    before, after, difference = change.before.matrix, change.after.matrix, change.difference
    cells = np.stack([true.ravel(), pred.ravel(), difference.ravel(), before.ravel(), after.ravel()], axis=1).tolist()
    hover = [f"{where}: {b:,} → {a:,} images ({d:+,}), {_change_words(d, t == p)}"
             for where, t, p, b, a, d in zip(_cell_names(names), true.ravel(), pred.ravel(), before.ravel(),
                                             after.ravel(), difference.ravel())]
    _add_clickable_cells(fig, names, cells, hover)
    title = (f"Change from {before_label} to {after_label}<br>"
             "<span style='font-size:14px'>red: more images in the cell · blue: fewer · white: the same; "
             "on the diagonal (right answers) red is good</span>")
    return _finish_matrix(fig, names, cell, title)


def per_class_figure(per_class_accuracy, names):
    """Bars of the accuracy on each true class."""
    fig = go.Figure(go.Bar(x=names, y=per_class_accuracy, marker_color=AFTER_COLOUR,
                           text=[f"{a:.0%}" for a in per_class_accuracy], textposition="outside"))
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%", title="accuracy per true class")
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), font=FONT)
    return fig


def per_class_compare_figure(before_accuracy, after_accuracy, names, before_label, after_label):
    """Bars of the accuracy on each true class at two steps, side by side (grey: before, blue: after)."""
    fig = go.Figure()
    for accuracy, label, colour in ((before_accuracy, before_label, BEFORE_COLOUR),
                                    (after_accuracy, after_label, AFTER_COLOUR)):
        fig.add_trace(go.Bar(x=names, y=accuracy, name=label, marker_color=colour,
                             text=[f"{a:.0%}" for a in accuracy], textposition="outside",
                             hovertemplate="%{x}: %{y:.0%}<extra>" + label + "</extra>"))
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="accuracy per true class")
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=10, b=0), font=FONT, barmode="group",
                      legend=dict(orientation="h", y=1.12, x=0))
    return fig
