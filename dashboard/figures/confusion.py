"""The confusion matrix (a cifar_core.insights.confusion.Confusion) as a clickable heatmap, and per-class bars."""
import numpy as np
import plotly.graph_objects as go


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
