"""One image's ten class probabilities as bars."""
import numpy as np
import plotly.graph_objects as go

# true_class for a photo of something outside the ten classes: no bar can be the right answer.
NONE_OF_THESE = "none of these"
RIGHT, WRONG, ANSWER, OTHER = "#2ca02c", "#d62728", "#1f77b4", "#9aa5b1"  # green, red, blue, grey


def bar_colours(probabilities, true_class=None):
    """One colour per class: the true class green and a wrong answer red; with no true class known, the answer
    blue (neither right nor wrong); with NONE_OF_THESE every bar grey (no answer can be right)."""
    predicted = int(np.argmax(probabilities))
    if true_class == NONE_OF_THESE:
        return [OTHER] * len(probabilities)
    wrong = ANSWER if true_class is None else WRONG
    return [RIGHT if i == true_class else wrong if i == predicted else OTHER for i in range(len(probabilities))]


def probability_figure(probabilities, class_names, true_class=None, true_tag="true"):
    """Horizontal bars of the ten class probabilities, coloured by `bar_colours`. true_class: the index of the
    class the image is (tagged "(true)", or "(you say)" with true_tag="you say"), None when not known, or
    NONE_OF_THESE."""
    names = [f"{name} ({true_tag})" if i == true_class else name for i, name in enumerate(class_names)]
    fig = go.Figure(go.Bar(x=probabilities, y=names, orientation="h",
                           marker_color=bar_colours(probabilities, true_class),
                           text=[f"{p:.0%}" for p in probabilities], textposition="outside",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", title="probability")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=340, margin=dict(l=0, r=10, t=10, b=0), showlegend=False)
    return fig
