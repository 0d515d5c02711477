"""The map of what the network learned: fc2 activations saved with each checkpoint from the same test pass as
its probabilities, PCA and t-SNE maps, the background t-SNE job, and the Map page (AppTest, real checkpoints)."""
import json
import shutil
import threading

import numpy as np

from app_pages import open_page
from cifar_core import checkpoints, snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import embedding, inference
from cifar_core.training.hooks import FC2_ACTIVATIONS, TEST_PROBABILITIES
from dashboard.ui.navigation import EMBEDDING


def test_every_checkpoint_and_snapshot_keeps_the_test_sets_fc2_activations_from_its_own_network(trained_dir,
                                                                                              tiny_data_dir):
    dataset = load_dataset(tiny_data_dir)
    saved = [*checkpoints.list_checkpoints(trained_dir), *snapshots.list_snapshots(trained_dir)]
    assert [c.step for c in saved] == [15, 30, 0, 30]
    for checkpoint in saved:
        fc2 = checkpoint.artifact(FC2_ACTIVATIONS)
        assert fc2.shape == (100, 128) and fc2.dtype == np.float16
        # What the checkpoint's own network computes for the test set, to float16's precision, and from the same
        # pass as the saved probabilities.
        computed = embedding.test_pass(embedding.with_fc2(inference.load_inference_model(checkpoint).model),
                                       dataset.test_images)
        np.testing.assert_allclose(fc2, computed.fc2, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(checkpoint.artifact(TEST_PROBABILITIES), computed.probabilities, atol=1e-5)
    assert (saved[0].artifact(FC2_ACTIVATIONS) != saved[1].artifact(FC2_ACTIVATIONS)).any()  # it learned


def without_fc2(checkpoint, folder):
    """A copy of `checkpoint` as saved before the fc2 artifact existed."""
    copy = folder / checkpoint.path.name
    shutil.copytree(checkpoint.path, copy)
    (copy / f"{FC2_ACTIVATIONS}{checkpoints.ARTIFACT_SUFFIX}").unlink()
    meta = json.loads((copy / "meta.json").read_text())
    del meta["sha256"][f"{FC2_ACTIVATIONS}{checkpoints.ARTIFACT_SUFFIX}"]
    (copy / "meta.json").write_text(json.dumps(meta))
    return checkpoints.list_checkpoints(folder)[0]


def test_a_checkpoint_saved_without_fc2_gets_it_computed_by_its_network(trained_dir, tiny_data_dir, tmp_path):
    latest = checkpoints.latest_checkpoint(trained_dir)
    older = without_fc2(latest, tmp_path)
    assert older.artifact(FC2_ACTIVATIONS) is None
    fc2 = embedding.test_set_fc2(older, load_dataset(tiny_data_dir), inference.load_inference_model)
    np.testing.assert_allclose(fc2, latest.artifact(FC2_ACTIVATIONS), rtol=2e-3, atol=2e-3)


def clusters(per_cluster=50, seed=0):
    """Three tight clusters in 128-d, far apart along three directions; -> (points, the cluster of each)."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, 128))
    centres[0, 0], centres[1, 5], centres[2, 9] = 10.0, 10.0, 10.0
    which = np.repeat(np.arange(3), per_cluster)
    return (centres[which] + rng.normal(0, 0.5, (len(which), 128))).astype(np.float32), which


def nearest_is_own_cluster(xy, which):
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return np.mean(which[distances.argmin(axis=1)] == which)


def test_pca_keeps_clusters_apart_and_reads_the_widest_direction_first():
    points, which = clusters()
    xy = embedding.pca_2d(points)
    assert xy.shape == (150, 2) and xy.dtype == np.float32
    assert nearest_is_own_cluster(xy, which) == 1.0
    centres = np.array([xy[which == c].mean(axis=0) for c in range(3)])
    spread = max(xy[which == c].std(axis=0).max() for c in range(3))
    assert min(np.linalg.norm(centres[a] - centres[b]) for a, b in ((0, 1), (0, 2), (1, 2))) > 10 * spread
    # Worked by hand: points on a line along axis 3 (spread 2) with a little spread along axis 7 (0.5).
    line = np.zeros((5, 128), np.float32)
    line[:, 3], line[:, 7] = [-4, -2, 0, 2, 4], [0.5, -0.5, 0, -0.5, 0.5]  # uncorrelated
    np.testing.assert_allclose(np.abs(embedding.pca_2d(line)), np.abs(line[:, [3, 7]]), atol=1e-5)


def test_tsne_keeps_each_images_nearest_neighbour_in_its_cluster():
    points, which = clusters(per_cluster=40)
    xy = embedding.tsne_2d(points)
    assert xy.shape == (120, 2) and np.isfinite(xy).all()
    assert nearest_is_own_cluster(xy, which) == 1.0


def test_the_tsne_job_computes_in_the_background_newest_request_first_and_once_per_key():
    began, release, order = threading.Event(), threading.Event(), []

    def compute(activations):
        began.set()
        release.wait(30)
        order.append(int(activations[0, 0]))
        return np.zeros((len(activations), 2), np.float32)

    jobs = embedding.TsneJobs(compute)
    assert jobs.status("a").state == "none"
    jobs.request("a", np.full((4, 2), ord("a"), np.float32))
    assert began.wait(30)
    for key in "bc":
        jobs.request(key, np.full((4, 2), ord(key), np.float32))
    jobs.request("c", np.full((4, 2), 0, np.float32))  # asked again: not computed twice
    assert jobs.status("a").state == "computing" and jobs.status("a").started_at is not None
    assert jobs.status("c").state == "waiting"
    release.set()
    assert jobs.wait(30)
    assert order == [ord("a"), ord("c"), ord("b")]  # "a" had begun; then the newest first
    assert jobs.status("b").state == "done" and jobs.status("b").result.shape == (4, 2)


def test_a_failed_tsne_is_reported_and_can_be_asked_again():
    jobs = embedding.TsneJobs(lambda activations: 1 / 0)
    jobs.request("a", np.zeros((4, 2)))
    assert jobs.wait(30)
    assert jobs.status("a").state == "failed" and "ZeroDivisionError" in jobs.status("a").message
    jobs.request("a", np.zeros((4, 2)))
    assert jobs.status("a").state in ("waiting", "computing", "failed")
    assert jobs.wait(30)


# --- the Map page (AppTest) -------------------------------------------------------------------------------

def scatter(at):
    return json.loads(at.get_by_key("em_chart").proto.spec)["data"][0]


def test_the_map_shows_every_test_image_as_one_clickable_dot_coloured_by_class(trained_app):
    at = open_page(EMBEDDING)
    dots = scatter(at)
    assert dots["type"] == "scattergl" and dots["customdata"] == list(range(100))
    assert dots["text"][0].startswith("#0 · ") and ", answered " in dots["text"][0]
    labels = load_dataset(trained_app[0]).test_labels
    assert dots["marker"]["color"] == labels.tolist()  # each dot its class's colour
    assert any("Each dot is a test image" in m.value for m in at.markdown)
    assert any("t-SNE: " in c.value for c in at.caption) or at.button(key="em_switch")


def test_colouring_by_right_or_wrong_uses_two_colours_and_a_chosen_image_opens_its_look_inside_view(trained_app):
    at = open_page(EMBEDDING)
    at.radio(key="em_colour").set_value("right").run()
    dots = scatter(at)
    scale = dict(map(tuple, dots["marker"]["colorscale"]))
    assert set(dots["marker"]["color"]) <= {0, 1} and (scale[0.0], scale[1.0]) == ("#2ca02c", "#d62728")
    at.number_input(key="em_index").set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value.startswith("Inside test image #7") for h in at.subheader)
    assert at.get_by_key("em_view_probs") is not None


def test_the_tsne_map_replaces_pca_once_the_background_job_has_it(trained_app):
    at = open_page(EMBEDDING)
    pca = scatter(at)["x"]
    assert embedding.tsne_jobs().wait(120)  # 100 images: a second or two
    at.run()
    at.button(key="em_switch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert scatter(at)["x"] != pca
    assert any(c.value.startswith("t-SNE map of 100 test images") for c in at.caption)
