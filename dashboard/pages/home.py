"""Home: what this dashboard is, the network, and where data, model and training stand.

No TensorFlow here (it takes seconds to import): the first paint is instant.
"""
import streamlit as st

from cifar_core import checkpoints, data, download  # none of these imports TensorFlow
from cifar_core.training import job
from dashboard.figures.network import flowchart_dot
from dashboard.ui import loaders, navigation, words

def draw_dataset_status():
    st.subheader("Dataset")
    try:
        with st.spinner("Looking for CIFAR-10…"):
            dataset = loaders.dataset_or_none()
    except data.DataError as e:
        st.error(f"The dataset folder is there but cannot be used: {e}")
        dataset = None
    if dataset is not None:
        origin = ("the official release (every file checks out)" if dataset.official else
                  "not byte-identical to the official release (e.g. a re-encoded copy): fine for learning")
        st.success(f"CIFAR-10 is here: {len(dataset.train_labels):,} training and {len(dataset.test_labels):,} "
                   f"test images, {origin}.  \nFolder: `{dataset.folder}`")
        return
    st.info("CIFAR-10 is not on this computer yet: 60,000 colour photos of 32×32 pixels in 10 classes "
            "(a 163 MB download).")
    if st.button("Download CIFAR-10", key="home_download", type="primary"):
        download_dataset()
    st.caption(loaders.OFFLINE_HINT)


def download_dataset():
    bar = st.progress(0.0, text="Connecting…")
    shown = {"mb": -1}

    def progress(done, total):  # called every 64 KiB: redraw only when the MB count changes
        mb = done >> 20
        if mb != shown["mb"]:
            shown["mb"] = mb
            fraction = min(done / total, 1.0) if total else 0.0
            bar.progress(fraction, text=f"Downloading: {mb} of {total >> 20} MB" if total else f"{mb} MB")

    try:
        with st.spinner("Downloading, checking and unpacking…"):
            # URL and checksum looked up now, not at import: a test (or a mirror) can point them elsewhere.
            download.download(progress=progress, url=download.OFFICIAL_URL, expected_md5=download.ARCHIVE_MD5)
    except data.DataError as e:
        bar.empty()
        st.error(f"The download did not work: {e}")
        return
    st.rerun()


def draw_model_status():
    st.subheader("Model")
    latest = checkpoints.latest_checkpoint(loaders.checkpoint_dir())
    if latest is None:
        st.info("No model yet: nothing has been trained. Train one for a few minutes on the Train page.")
        return
    accuracy = f"{latest.test_accuracy:.1%}" if latest.test_accuracy is not None else "–"
    left, middle, right = st.columns(3)
    left.metric("Steps trained", f"{latest.step:,}")
    middle.metric("Test accuracy", accuracy, help="On the 10,000 test images; chance is 10%.")
    right.metric("Saved", words.format_age(latest.saved_at),
                 help=f"{words.format_time(latest.saved_at)}, {latest.preset} preset, in {latest.path}")


def draw_training_status():
    st.subheader("Training")
    training = job.existing_job()  # None until the Train page has been opened: no TensorFlow here
    status = training.status() if training is not None else job.TrainingStatus()
    if status.state == "failed":
        st.error(status.message)
    else:
        st.write(words.describe_run(status))
    if status.active and status.target_step > status.start_step:
        done = (status.step - status.start_step) / (status.target_step - status.start_step)
        st.progress(min(max(done, 0.0), 1.0))


navigation.page_header(
    "How a CNN learns: CIFAR-10",
    "Train a small convolutional network to tell airplanes from cats from trucks, and watch it learn. "
    "Then open it up: the random distortions it trains on, the filters it learns, what each layer sees, "
    "and which pictures it still gets wrong.")
network, status = st.columns([2, 3], gap="large")
with network:
    st.subheader("The network")
    st.graphviz_chart(flowchart_dot(), alt="The network: a 32×32 colour image is cropped to 24×24, then two 5×5 "
                      "convolution layers of 64 filters, each followed by max-pooling, then dense layers of 256 "
                      "and 128, then probabilities for the 10 classes.")
with status:
    st.subheader("Pages")
    navigation.draw_page_list()
    draw_dataset_status()
    draw_model_status()
    draw_training_status()
