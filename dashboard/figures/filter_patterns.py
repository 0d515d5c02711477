"""What one filter looks for, drawn: its strongest test-image patches (enlarged, pixelated), the sentence of
which classes they are, and the input optimised to excite it. Arrays in, HTML and words out."""
import numpy as np

from dashboard.figures.images import pixels_html
from dashboard.ui.words import count_of, plural

OUTSIDE = 255  # white: the part of a receptive field beyond the crop's border (the page's background)


def framed_patch(top, number):
    """The number-th patch of a TopPatches on its full receptive field, (field, field, 3) uint8: a patch
    clipped at the crop's border keeps its scale, the missing part white."""
    field = np.full((top.field, top.field, 3), OUTSIDE, np.uint8)
    patch = top.patches[number]
    row, column = np.maximum(0, -top.origins[number])  # how far the field reaches above / left of the crop
    field[row:row + patch.shape[0], column:column + patch.shape[1]] = patch
    return field


def patch_html(top, number, class_names):
    """One patch, enlarged, captioned "ship, test 1234"."""
    caption = f"{class_names[top.labels[number]]}, test {top.indices[number]}"
    return pixels_html(framed_patch(top, number), caption)


def tally_sentence(top, class_names):
    """'**7 of its 9** are ships; the others: 1 cat, 1 truck.' (or why there is nothing to read)."""
    if top.silent:
        return (f"Filter {top.filter_index} does not fire on any of the first {top.searched:,} test images "
                "(its output is 0 everywhere), so these patches mean nothing: a silent filter.")
    (most, count), *others = top.tally()
    total = len(top.labels)
    if count == total:
        return f"**All {total}** are {plural(class_names[most])}."
    head = (f"**{count} of its {total}** are {plural(class_names[most])}" if count > 1
            else f"**All {total}** are different classes")
    rest = ", ".join(count_of(n, class_names[label]) for label, n in others)
    return f"{head}; the others: {rest}." if count > 1 else f"{head}: no class stands out."


def optimised_html(image):
    return pixels_html(image, "the input that excites it most")


def how_to_read_optimised(step):
    """One sentence under the optimised image."""
    if step == 0:
        return ("An input changed step by step to excite this filter as much as possible. At step 0 the "
                "filter is random, so this is noise: drag the timeline later to see a pattern appear.")
    return ("An input changed step by step to excite this filter as much as possible: what it looks for, "
            "repeated over the whole image, often a stripe, an edge or a patch of colour.")
