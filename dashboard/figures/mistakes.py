"""Gallery tiles with a badge ('label may be wrong: looks like a dog'): for any gallery of test images."""
import html

from dashboard.figures.images import pixels_html
from dashboard.ui.words import with_article

BADGE_STYLE = ("margin-top:2px;padding:1px 3px;border-radius:4px;background:#fff3cd;color:#664d03;"
               "border:1px solid #e0c36c;text-align:center;font-size:clamp(8px,13cqw,0.8em);line-height:1.2")


def badge_words(index, suspects, published, class_names):
    """The badge of one test image, or None: the people-checked list first, then the network's suspicion.
    suspects, published: {test-image index: suggested class} (LabelIssues.suggestions())."""
    if index in published:
        return f"label may be wrong: looks like {with_article(class_names[published[index]])} (checked by people)"
    if index in suspects:
        return f"label may be wrong: looks like {with_article(class_names[suspects[index]])}"
    return None


def label_badges(suspects, published, class_names):
    """{test-image index: badge words} for every image either list (LabelIssues) doubts; the rest have none."""
    suggested, checked = suspects.suggestions(), published.suggestions()
    return {i: badge_words(i, suggested, checked, class_names) for i in suggested.keys() | checked.keys()}


def badged_html(image, caption, badge=None):
    """pixels_html's tile, with the badge (when there is one) under its caption."""
    if badge is None:
        return pixels_html(image, caption)
    return (f'<div style="container-type:inline-size">{pixels_html(image, caption)}'
            f'<div class="badge" style="{BADGE_STYLE}">{html.escape(badge)}</div></div>')
