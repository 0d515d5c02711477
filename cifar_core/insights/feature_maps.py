"""What each conv layer computes for one image, and the network's answer (arrays only)."""
from dataclasses import dataclass

import numpy as np

from cifar_core.architecture import CONV_LAYERS


@dataclass(frozen=True)
class NetworkView:
    image: np.ndarray          # (32, 32, 3) uint8: what was shown
    maps: dict                 # {conv layer name: (H, W, 64) ReLU outputs}
    probabilities: np.ndarray  # (10,) float32

    @property
    def predicted(self):
        return int(np.argmax(self.probabilities))


def network_view(inference, image):
    """One (32, 32, 3) uint8 image through an InferenceModel: its feature maps and class probabilities."""
    from cifar_core.augment import centre_crop

    image = np.asarray(image, np.uint8)
    *maps, probabilities = inference.features(centre_crop(image[None]), training=False)
    return NetworkView(image, {layer.name: m[0].numpy() for layer, m in zip(CONV_LAYERS, maps)},
                       probabilities[0].numpy())
