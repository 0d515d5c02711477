"""The network as a flowchart (Graphviz DOT), generated from cifar_core.architecture's table."""
from cifar_core.architecture import LAYERS

# Box colours by kind of layer; conv and dense layers keep the default blue.
STYLES = {"input": 'fillcolor="#ffffff"', "crop": 'fillcolor="#fff4e0", color="#c77700"',
          "pool": 'fillcolor="#f4f4f4", color="#777777"', "flatten": 'fillcolor="#f4f4f4", color="#777777"',
          "softmax": 'fillcolor="#e6f4ea", color="#1e7b34"'}


def flowchart_dot():
    """The network drawn top to bottom in Graphviz DOT: one box per layer with the shape it outputs."""
    nodes = []
    for i, layer in enumerate(LAYERS):
        shape = "×".join(str(n) for n in layer.output_shape)
        title = layer.what if layer.kind in ("input", "crop", "pool", "flatten", "softmax") else \
            f"{layer.label}: {layer.what}"
        label = title.replace(", ReLU", "\\nReLU").replace(" (+", "\\n(+") + f"\\n{shape}"
        nodes.append(f'  n{i} [label="{label}", {STYLES.get(layer.kind, "")}];'.replace(", ];", "];"))
    edges = " -> ".join(f"n{i}" for i in range(len(LAYERS)))
    return "\n".join([
        "digraph network {",
        '  bgcolor="transparent"; nodesep=0.2; ranksep=0.22;',
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#1f5fbf", fontname="Helvetica",',
        '        fontsize=14, width=3.4, margin="0.1,0.05"];',
        '  edge [color="#555555", arrowsize=0.7];',
        *nodes, f"  {edges};", "}"])
