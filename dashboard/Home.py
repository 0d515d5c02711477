"""Home: what this dashboard is, the network, and where data, model and training stand.

The entry point: `streamlit run dashboard/Home.py` from the repository root.
No TensorFlow here (it takes seconds to import): the first paint is instant.
"""
from pathlib import Path

import streamlit as st

import common
from cifar_core import checkpoints, data, download, trainer  # none of these imports TensorFlow

# The network, drawn top to bottom: each box is one step, with the shape of what it outputs.
NETWORK_DOT = """
digraph network {
  bgcolor="transparent"; nodesep=0.2; ranksep=0.22;
  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#1f5fbf", fontname="Helvetica",
        fontsize=14, width=3.4, margin="0.1,0.05"];
  edge [color="#555555", arrowsize=0.7];
  input   [label="colour image\n32×32×3", fillcolor="#ffffff"];
  crop    [label="random distortions (training)\nor centre crop (test)\n24×24×3", fillcolor="#fff4e0", color="#c77700"];
  conv1   [label="conv1: 64 filters of 5×5\nbatch-norm + ReLU\n24×24×64"];
  pool1   [label="max-pool 2×2\n12×12×64", fillcolor="#f4f4f4", color="#777777"];
  conv2   [label="conv2: 64 filters of 5×5\n(+ batch-norm, except the notebook preset)\nReLU\n12×12×64"];
  pool2   [label="max-pool 2×2\n6×6×64", fillcolor="#f4f4f4", color="#777777"];
  flatten [label="flatten\n2304", fillcolor="#f4f4f4", color="#777777"];
  fc1     [label="fc1: dense, ReLU\n256"];
  fc2     [label="fc2: dense, ReLU\n128"];
  softmax [label="softmax\n10 class probabilities", fillcolor="#e6f4ea", color="#1e7b34"];
  input -> crop -> conv1 -> pool1 -> conv2 -> pool2 -> flatten -> fc1 -> fc2 -> softmax;
}
"""

# (page file, label, icon, what the learner finds there); pages not written yet are skipped.
PAGES = [
    ("pages/1_Dataset.py", "Dataset", ":material/photo_library:", "browse the 60,000 images and their classes"),
    ("pages/2_Train.py", "Train", ":material/model_training:", "train the network and watch the accuracy climb"),
    ("pages/3_Augmentation.py", "Augmentation", ":material/auto_fix_high:", "what the random distortions do"),
    ("pages/4_Filters.py", "Filters", ":material/grid_on:", "the 5×5 filters the network learned"),
    ("pages/5_Feature_maps.py", "Feature maps", ":material/layers:", "what each layer sees in one image"),
    ("pages/6_Confusion_matrix.py", "Confusion matrix", ":material/table_chart:", "which classes it mixes up, and the images"),
]


def draw_navigation():
    here = Path(__file__).resolve().parent
    for page, label, icon, what in PAGES:
        if (here / page).is_file():
            st.page_link(page, label=f"**{label}**: {what}", icon=icon)


def draw_dataset_status():
    st.subheader("Dataset")
    try:
        with st.spinner("Looking for CIFAR-10…"):
            dataset = common.dataset_or_none()
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
    st.caption(common.OFFLINE_HINT)


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
    latest = checkpoints.latest_checkpoint(common.checkpoint_dir())
    if latest is None:
        st.info("No model yet: nothing has been trained. Train one for a few minutes on the Train page.")
        return
    accuracy = f"{latest.test_accuracy:.1%}" if latest.test_accuracy is not None else "–"
    left, middle, right = st.columns(3)
    left.metric("Steps trained", f"{latest.step:,}")
    middle.metric("Test accuracy", accuracy, help="On the 10,000 test images; chance is 10%.")
    right.metric("Saved", common.format_age(latest.saved_at),
                 help=f"{common.format_time(latest.saved_at)}, {latest.preset} preset, in {latest.path}")


def draw_training_status():
    st.subheader("Training")
    job = trainer.existing_job()  # None until the Train page has been opened: no TensorFlow here
    status = job.status() if job is not None else trainer.TrainingStatus()
    if status.state == "failed":
        st.error(status.message)
    else:
        st.write(common.describe_run(status))
    if status.active and status.target_step > status.start_step:
        done = (status.step - status.start_step) / (status.target_step - status.start_step)
        st.progress(min(max(done, 0.0), 1.0))


common.page_header(
    "How a CNN learns: CIFAR-10",
    "Train a small convolutional network to tell airplanes from cats from trucks, and watch it learn. "
    "Then open it up: the random distortions it trains on, the filters it learns, what each layer sees, "
    "and which pictures it still gets wrong.")
network, status = st.columns([2, 3], gap="large")
with network:
    st.subheader("The network")
    st.graphviz_chart(NETWORK_DOT, alt="The network: a 32×32 colour image is cropped to 24×24, then two 5×5 "
                      "convolution layers of 64 filters, each followed by max-pooling, then dense layers of 256 "
                      "and 128, then probabilities for the 10 classes.")
with status:
    st.subheader("Pages")
    draw_navigation()
    draw_dataset_status()
    draw_model_status()
    draw_training_status()
