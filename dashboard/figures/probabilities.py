"""One image's ten class probabilities as bars."""
import numpy as np
import plotly.graph_objects as go


def probability_figure(probabilities, class_names, true_class=None):
    """Horizontal bars of the ten class probabilities; the true class green, a wrong answer red, others grey."""
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
