"""The Train page's learning curves, from a metrics history
({"steps", "batch_accuracy", "loss", "test_steps", "test_accuracy"}: lists)."""
import numpy as np
import plotly.graph_objects as go

BLUE, ORANGE = "#1f5fbf", "#e07b00"
MOST_POINTS = 400  # a curve's points at most: a default run logs 3,600, and every watching browser draws them


def thin(steps, values, most):
    """At most `most` points, each the mean of a run of consecutive ones (a 36,000-step run logs 3,600)."""
    if len(steps) <= most:
        return list(steps), list(values)
    groups = np.arange(len(steps)) // -(-len(steps) // most)  # (N,) group of each point
    counts = np.bincount(groups)
    means = np.bincount(groups, weights=np.asarray(values, float)) / counts
    return np.asarray(steps)[np.cumsum(counts) - 1].tolist(), means.tolist()  # at each group's last step


def accuracy_figure(history):
    """Training-batch accuracy (thinned) and test accuracy against the step."""
    steps, batch_accuracy = thin(history["steps"], history["batch_accuracy"], MOST_POINTS)
    fig = go.Figure([
        go.Scatter(x=steps, y=batch_accuracy, name="training batches", mode="lines", line_color=BLUE),
        go.Scatter(x=history["test_steps"], y=history["test_accuracy"], name="test images",
                   mode="lines+markers", line_color=ORANGE)])
    fig.update_layout(title="Accuracy", yaxis_tickformat=".0%", yaxis_range=[0, 1])
    return _curve_layout(fig)


def loss_figure(history):
    """Training-batch loss (thinned) against the step."""
    steps, loss = thin(history["steps"], history["loss"], MOST_POINTS)
    fig = go.Figure(go.Scatter(x=steps, y=loss, name="loss", mode="lines", line_color=BLUE))
    fig.update_layout(title="Loss on training batches (lower is better)")
    return _curve_layout(fig)


def _curve_layout(fig):
    # uirevision keeps the zoom while the figure is unchanged (a new point remounts the chart anyway)
    return fig.update_layout(uirevision="train", height=340, xaxis_title="step", margin=dict(t=50, b=40),
                             legend=dict(orientation="h", y=-0.25))
