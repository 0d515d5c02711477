"""The dashboard's pages, listed once: the entry script's st.navigation, Home's links and the
"go to" links all come from PAGES (later, role-based gating plugs in here too)."""
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageEntry:
    file: str   # relative to dashboard/, where the entry script is
    title: str  # in the sidebar and the browser tab
    icon: str   # Material icons: Debian's Chromium has no emoji font
    what: str   # what the learner finds there, for Home's list
    url: str    # the page's address, e.g. http://127.0.0.1:8501/Train ("" for Home)


HOME = "pages/home.py"
DATASET, TRAIN, AUGMENTATION = "pages/dataset.py", "pages/train.py", "pages/augmentation.py"
FILTERS, FEATURE_MAPS, CONFUSION = "pages/filters.py", "pages/feature_maps.py", "pages/confusion_matrix.py"
MISTAKES = "pages/mistakes.py"
EMBEDDING = "pages/embedding.py"

PAGES = (
    PageEntry(HOME, "Home", ":material/home:", "what this is, and where data, model and training stand", ""),
    PageEntry(DATASET, "Dataset", ":material/photo_library:", "browse the 60,000 images and their classes", "Dataset"),
    PageEntry(TRAIN, "Train", ":material/model_training:", "train the network and watch the accuracy climb", "Train"),
    PageEntry(AUGMENTATION, "Augmentation", ":material/auto_fix_high:", "what the random distortions do",
              "Augmentation"),
    PageEntry(FILTERS, "Filters", ":material/grid_on:", "the 5×5 filters the network learned", "Filters"),
    PageEntry(FEATURE_MAPS, "Feature maps", ":material/layers:", "what each layer sees in one image", "Feature_maps"),
    PageEntry(CONFUSION, "Confusion matrix", ":material/table_chart:", "which classes it mixes up, and the images",
              "Confusion_matrix"),
    PageEntry(MISTAKES, "Mistakes", ":material/report:", "its worst mistakes, and test labels that may be wrong",
              "Mistakes"),
    PageEntry(EMBEDDING, "Map", ":material/scatter_plot:", "every test image placed by what the network makes of it",
              "Map"),
)


def navigation():
    """The st.navigation of every page (the entry script runs the chosen one)."""
    return st.navigation([st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url or None, default=p.file == HOME)
                          for p in PAGES])


def entry(file):
    return next(p for p in PAGES if p.file == file)


def link(file, label=None):
    """A link to one of PAGES, e.g. link(TRAIN, "Go to Train")."""
    page = entry(file)
    st.page_link(page.file, label=label or page.title, icon=page.icon)


def switch_to(file):
    """Go to one of PAGES now (from a click's callback or the script)."""
    st.switch_page(entry(file).file)


def draw_page_list():
    """Every page but Home, with what the learner finds there."""
    for page in PAGES:
        if page.file != HOME:
            st.page_link(page.file, label=f"**{page.title}**: {page.what}", icon=page.icon)


def page_header(title, intro):
    """Every page opens the same way: a title and what the learner will see."""
    st.title(title)
    st.markdown(intro)
