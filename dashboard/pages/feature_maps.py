"""Feature maps: what each convolution layer sees in one image, and what the network concludes."""
import numpy as np
import streamlit as st

from cifar_core import uploads
from dashboard.figures.images import pixels_html
from dashboard.figures.probabilities import NONE_OF_THESE
from dashboard.ui import downloads, loaders, navigation, timeline
from dashboard.ui.look_inside import look_inside
from dashboard.ui.page_fragment import page_fragment

SOURCES = ("Gallery", "Test image number", "Class", "Your own photo")
WONT_SAY = "I won't say"


def pick(index):
    st.session_state["fm_gallery_pick"] = index


def gallery(dataset):
    """The first test image of each class, with a button under each; -> the picked test index."""
    firsts = [int(np.flatnonzero(dataset.test_labels == c)[0]) for c in np.unique(dataset.test_labels)]
    cells = st.columns(len(firsts))
    for cell, index in zip(cells, firsts):  # HTML captions: they never break inside a word ("automobile")
        cell.html(pixels_html(dataset.test_images[index], dataset.class_names[dataset.test_labels[index]]))
        cell.button("Show", key=f"fm_pick_{index}", on_click=pick, args=(index,), width="stretch")
    return st.session_state.get("fm_gallery_pick", firsts[0])


def uploaded_photo():
    """The photo of the file in the uploader, or None when there is none (removing the file forgets its photo).
    A file that cannot be read says why and leaves the previous photo, saying so; -> (photo or None, previous)."""
    upload = st.file_uploader("A photo of your own (PNG or JPEG); it is cropped to a square and shrunk to 32x32",
                              type=["png", "jpg", "jpeg"], key="fm_upload")
    st.caption("The network knows only CIFAR-10's ten classes, so it must answer one of them, even for a photo "
               "of something else (a person, a tree, a cup): then its answer is a forced guess, however sure "
               "it looks.")
    if upload is None:
        for name in ("fm_photo", "fm_photo_file", "fm_photo_is"):
            st.session_state.pop(name, None)
        return None, False
    try:
        photo = uploads.image_from_upload(upload.getvalue())
    except uploads.UploadError as error:
        previous = st.session_state.get("fm_photo")
        st.error(f"{error} The result below is still your previous photo's." if previous is not None
                 else str(error))
        return previous, previous is not None
    if st.session_state.get("fm_photo_file") != upload.file_id:  # a new photo: the learner has not said yet
        st.session_state["fm_photo_file"] = upload.file_id
        st.session_state.pop("fm_photo_is", None)
    st.session_state["fm_photo"] = photo
    return photo, False


def photo_is(class_names):
    """The learner says what the photo is -> a class index, NONE_OF_THESE, or None ("I won't say")."""
    said = st.selectbox("What is your photo of?", [WONT_SAY, *class_names, NONE_OF_THESE], key="fm_photo_is",
                        help="Say it, and the bars show whether the network got it right. Choose "
                             f"'{NONE_OF_THESE}' for anything else: then no answer can be right.")
    return None if said == WONT_SAY else NONE_OF_THESE if said == NONE_OF_THESE else class_names.index(said)


def image_controls(dataset):
    """-> (image (32, 32, 3) uint8, true class (or None, or NONE_OF_THESE), its tag for the bars, description)."""
    source = st.radio("Choose an image", SOURCES, horizontal=True, key="fm_source")
    count = len(dataset.test_labels)
    if source == "Your own photo":
        photo, previous = uploaded_photo()
        if photo is not None:
            return (photo, photo_is(dataset.class_names), "you say",
                    "your photo (still the previous one)" if previous else "your photo")
        st.caption("No photo yet: showing test image 0 meanwhile.")
        index = 0
    elif source == "Test image number":
        index = st.number_input(f"Test image number (0 to {count - 1:,})", 0, count - 1, key="fm_index")
    elif source == "Class":
        left, right = st.columns(2)
        label = left.selectbox("Class", range(len(dataset.class_names)),
                               format_func=dataset.class_names.__getitem__, key="fm_class")
        members = np.flatnonzero(dataset.test_labels == label)
        nth = right.number_input(f"Which {dataset.class_names[label]} (0 to {len(members) - 1:,})", 0,
                                 max(0, len(members) - 1), key="fm_nth")
        index = int(members[min(nth, len(members) - 1)])
    else:
        index = gallery(dataset)
    return dataset.test_images[index], int(dataset.test_labels[index]), "true", f"test image {index}"


navigation.page_header(
    "Feature maps",
    "Feed one image through the trained network and look at every channel it computes: conv1's maps "
    "respond to colours and edges, conv2's to combinations of them. At the end, the ten class "
    "probabilities show what the network concluded.")


@page_fragment
def timeline_and_view(timeline_slot, dataset, image, true_class, true_tag, description):
    """The timeline (drawn in `timeline_slot`, above the image controls) and the view of the image at its step:
    a move of the slider reruns only these, not the image gallery and controls between them."""
    with timeline_slot:
        checkpoint = timeline.require_point("fm")
    st.subheader(f"What the network sees in {description}")
    look_inside(checkpoint, image, dataset.class_names, true_class, key="fm", true_tag=true_tag)
    st.caption(downloads.CHARTS_AS_PICTURES)
    timeline.load_neighbours()  # a fragment's own rerun ends here, not in Home.py


dataset = loaders.require_dataset()
timeline.require_trained()  # before the image controls: with nothing trained there is nothing to look through
timeline_slot = st.container()
image, true_class, true_tag, description = image_controls(dataset)
timeline_and_view(timeline_slot, dataset, image, true_class, true_tag, description)
