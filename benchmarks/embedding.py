"""The Map page's costs, on one checkpoint's fc2 activations of the full test set (10,000 images).

    .venv/bin/python benchmarks/embedding.py --checkpoint-dir C [--data-dir D]

Times: the test pass with and without fc2 (saving fc2 must add no second pass), PCA, and the page's t-SNE
(scikit-learn's Barnes-Hut), and openTSNE's (FFT-accelerated, its defaults) when it is installed.
How good a map is: the accuracy of a 10-nearest-neighbour vote of the true classes on the map (3-fold), and
the trustworthiness of the map's 10 nearest neighbours (on 2,000 images). Run while nothing trains; the
machine is shared, so compare only numbers from one run. Writes benchmarks/results/embedding.json.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from cifar_core import checkpoints, data
from cifar_core.insights import embedding, inference
from cifar_core.training.hooks import FC2_ACTIVATIONS


def seconds(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def quality(xy, fc2, labels, sample):
    vote = cross_val_score(KNeighborsClassifier(10), xy, labels, cv=3).mean()
    trust = trustworthiness(fc2[sample], xy[sample], n_neighbors=10)
    return {"knn_accuracy": round(float(vote), 3), "trustworthiness": round(float(trust), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    dataset = data.load_dataset(args.data_dir or data.find_dataset())
    checkpoint = checkpoints.latest_checkpoint(args.checkpoint_dir)
    fc2 = checkpoint.artifact(FC2_ACTIVATIONS)
    assert fc2 is not None, f"{checkpoint.path} has no {FC2_ACTIVATIONS}: train it with this version"
    fc2, labels = fc2.astype(np.float32), dataset.test_labels
    sample = np.random.default_rng(0).choice(len(fc2), 2000, replace=False)
    results = {"checkpoint": str(checkpoint.path), "images": len(fc2), "fc2": quality(fc2, fc2, labels, sample)}

    model = inference.load_inference_model(checkpoint).model
    both = embedding.with_fc2(model)
    inference.predict_probabilities(model, dataset.test_images[:250])  # warm up both
    embedding.test_pass(both, dataset.test_images[:250])
    results["pass_probabilities_s"] = seconds(inference.predict_probabilities, model, dataset.test_images)[0]
    results["pass_with_fc2_s"] = seconds(embedding.test_pass, both, dataset.test_images)[0]

    embedding.pca_2d(fc2[:100])  # warm up BLAS
    took, xy = seconds(embedding.pca_2d, fc2)
    results["pca"] = {"seconds": round(took, 3), **quality(xy, fc2, labels, sample)}
    took, xy = seconds(embedding.tsne_2d, fc2)  # what the page computes: scikit-learn's, from the PCA map
    results["tsne"] = {"seconds": round(took, 1), **quality(xy, fc2, labels, sample)}
    try:
        from openTSNE import TSNE as OpenTSNE  # not a dependency: measured against, 1.4x faster (44 s v 62 s)
        took, xy = seconds(lambda x: np.asarray(OpenTSNE(n_jobs=-1, random_state=0).fit(x)), fc2)
        results["opentsne"] = {"seconds": round(took, 1), **quality(xy, fc2, labels, sample)}
    except ImportError:
        results["opentsne"] = "not installed (pip install openTSNE to compare)"
    print(json.dumps(results, indent=2))
    out = Path(__file__).parent / "results" / "embedding.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
