"""The Train page's learning curves, from a metrics history ({"steps", "batch_accuracy", "loss", "test_steps",
"test_accuracy", "test_loss", "session_steps", "session_kinds"}: lists; older checkpoints lack the last three)
and the run's snapshots ([(step, test accuracy or None)], oldest first).

Both charts show the training batches beside the test images, a dotted line where a training session began
(resumed, extended, a new run), and a diamond per snapshot whose customdata is [step], for a click to open it.
Text is large and dark for a projector."""
import numpy as np
import plotly.graph_objects as go

BLUE, ORANGE, DARK, GREY = "#1f5fbf", "#e07b00", "#222222", "#555555"
FONT = 14        # px: the smallest text, readable from the back of a classroom
MOST_POINTS = 400  # a curve's points at most: a default run logs 3,600, and every watching browser draws them


def thin(steps, values, most):
    """At most `most` points, each the mean of a run of consecutive ones (a 36,000-step run logs 3,600)."""
    if len(steps) <= most:
        return list(steps), list(values)
    groups = np.arange(len(steps)) // -(-len(steps) // most)  # (N,) group of each point
    counts = np.bincount(groups)
    means = np.bincount(groups, weights=np.asarray(values, float)) / counts
    return np.asarray(steps)[np.cumsum(counts) - 1].tolist(), means.tolist()  # at each group's last step


def accuracy_figure(history, kept=()):
    """Training-batch accuracy (thinned) and test accuracy on one chart, so the gap shows; diamonds on the
    snapshots along the bottom (at their own accuracy they sat on the test curve's points and a click took
    the point, not the diamond)."""
    steps, batch_accuracy = thin(history["steps"], history["batch_accuracy"], MOST_POINTS)
    fig = go.Figure([
        go.Scatter(x=steps, y=batch_accuracy, name="training batches", mode="lines", line_color=BLUE),
        go.Scatter(x=history["test_steps"], y=history["test_accuracy"], name="test images",
                   mode="lines+markers", line=dict(color=ORANGE, width=3))])
    _add_snapshots(fig, kept)
    fig.update_layout(title="Accuracy (higher is better; chance is 10%)", yaxis_tickformat=".0%",
                      yaxis_range=[0, 1])
    return _curve_layout(fig, history)


def loss_figure(history, kept=()):
    """Training-batch loss (thinned) and test loss (on the same test images as the test accuracy); diamonds
    on the snapshots along the bottom."""
    steps, loss = thin(history["steps"], history["loss"], MOST_POINTS)
    test_loss = history.get("test_loss", [])  # older checkpoints have none
    fig = go.Figure([
        go.Scatter(x=steps, y=loss, name="training batches", mode="lines", line_color=BLUE),
        go.Scatter(x=history["test_steps"][:len(test_loss)], y=test_loss, name="test images",
                   mode="lines+markers", line=dict(color=ORANGE, width=3))])
    _add_snapshots(fig, kept)
    fig.update_layout(title="Loss (lower is better)", yaxis_title="cross-entropy loss", yaxis_rangemode="tozero")
    return _curve_layout(fig, history)


def _add_snapshots(fig, kept):
    """A diamond per snapshot along the bottom, on an axis of their own (0 to 1, hidden), so they stay there
    whatever the curves do and never sit on a curve's point."""
    if not kept:
        return
    hover = [f"snapshot at step {step:,}" + ("" if accuracy is None else f" · {accuracy:.0%}")
             + ": click to open it" for step, accuracy in kept]
    fig.add_trace(go.Scatter(
        x=[step for step, _ in kept], y=[0.03] * len(kept), yaxis="y2", name="snapshots", mode="markers",
        marker=dict(symbol="diamond", size=13, color=DARK, line=dict(color="white", width=1)),
        customdata=[[step] for step, _ in kept],  # a list, not an array: see STREAMLIT.md
        hovertext=hover, hoverinfo="text"))
    fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True))


def _session_markers(fig, history):
    """A dotted line and a short label where each training session began (not the first run's step 0)."""
    sessions = list(zip(history.get("session_steps", []), history.get("session_kinds", [])))
    for index, (step, kind) in enumerate(sessions):
        if index == 0 and step == 0:
            continue  # the axis starts there anyway
        fig.add_vline(x=step, line=dict(color=GREY, width=2, dash="dot"), annotation_text=kind,
                      annotation_position="top right", annotation_font=dict(size=FONT, color=DARK),
                      annotation_bgcolor="rgba(255,255,255,0.8)")


def _curve_layout(fig, history):
    _session_markers(fig, history)
    axis = dict(tickfont=dict(size=FONT, color=DARK), title_font=dict(size=FONT + 2, color=DARK),
                gridcolor="#dddddd", linecolor=DARK)
    # uirevision keeps the zoom while the figure is unchanged (a new point remounts the chart anyway);
    # dragmode: with clicks on, Streamlit would make dragging pan instead of zoom
    return fig.update_layout(uirevision="train", height=400, margin=dict(t=60, b=40), dragmode="zoom",
                             font=dict(size=FONT, color=DARK), title_font=dict(size=FONT + 4, color=DARK),
                             xaxis=dict(title="step", **axis), yaxis=axis, hovermode="closest",
                             hoverlabel=dict(font_size=FONT),
                             legend=dict(orientation="h", y=-0.3, font=dict(size=FONT, color=DARK)))
