"""The networks kept loaded for the pages, and loaded ahead for the timeline (cifar_core/insights/network_cache.py)."""
import threading

import numpy as np
import pytest

from cifar_core import checkpoints, snapshots
from cifar_core.data import load_dataset
from cifar_core.insights import inference
from cifar_core.insights.network_cache import NetworkCache


class CountingLoad:
    """load_inference_model, counting its calls per checkpoint step; `gate` holds every load until set."""

    def __init__(self):
        self.calls, self.gate = [], threading.Event()
        self.gate.set()

    def __call__(self, checkpoint):
        self.calls.append(checkpoint.step)
        self.gate.wait(60)
        return inference.load_inference_model(checkpoint)


def test_a_network_is_loaded_once_and_is_the_checkpoints_own(trained_dir, tiny_data_dir):
    load, latest = CountingLoad(), checkpoints.latest_checkpoint(trained_dir)
    cache = NetworkCache(load)
    first, again = cache.get(latest), cache.get(checkpoints.Checkpoint.open(latest.path))
    assert first is again and load.calls == [latest.step]
    assert first.step == latest.step
    test_images = load_dataset(tiny_data_dir).test_images  # it answers as when training saved its answers
    np.testing.assert_allclose(inference.predict_probabilities(first.model, test_images),
                               latest.artifact("test_probabilities"), atol=1e-3)


def test_prefetch_loads_the_timeline_neighbours_in_the_background_and_get_waits_for_that_load(trained_dir):
    load = CountingLoad()
    cache = NetworkCache(load)
    points = snapshots.timeline(trained_dir)
    assert len(points) >= 2
    load.gate.clear()  # the background load starts and waits
    cache.prefetch(points[:1])
    got = []
    page = threading.Thread(target=lambda: got.append(cache.get(points[0])))
    page.start()  # a page asks for it while it is still loading
    assert not cache.is_loaded(points[0])
    load.gate.set()
    page.join(60)
    assert got and got[0].step == points[0].step
    assert load.calls == [points[0].step]  # one load, shared: the page did not start a second one
    assert cache.is_loaded(points[0]) and not cache.is_loaded(points[1])


def test_a_damaged_checkpoint_is_reported_and_tried_again_later(trained_dir, tmp_path):
    import shutil
    latest = checkpoints.latest_checkpoint(trained_dir)
    copy = tmp_path / latest.path.name
    shutil.copytree(latest.path, copy)
    largest = max(copy.iterdir(), key=lambda p: p.stat().st_size)
    intact = largest.read_bytes()
    largest.write_bytes(intact[:100])
    load, damaged = CountingLoad(), checkpoints.Checkpoint.open(copy)
    cache = NetworkCache(load)
    with pytest.raises(checkpoints.CheckpointError):
        cache.get(damaged)
    largest.write_bytes(intact)  # repaired (a copy finished): the next look loads it
    assert cache.get(damaged).step == latest.step
    assert len(load.calls) == 2


def test_only_the_most_recently_used_networks_are_kept(trained_dir):
    load = CountingLoad()
    cache = NetworkCache(load, capacity=2)
    a, b, c = [*snapshots.timeline(trained_dir), *checkpoints.list_checkpoints(trained_dir)][:3]
    assert len({a.path, b.path, c.path}) == 3
    cache.get(a), cache.get(b), cache.get(a), cache.get(c)  # b is the least recently used
    assert cache.is_loaded(a) and cache.is_loaded(c) and not cache.is_loaded(b)
