"""ModelConfig (what the network is) and TrainConfig (how it is trained), and named presets.

The config travels with every checkpoint as JSON, so a checkpoint always says
how it was trained. A run can continue from a checkpoint only with the same
ModelConfig; loading a checkpoint for inference needs only its ModelConfig.
Kept free of TensorFlow so the dashboard's Home page can read it without loading TF.
"""
import json
import math
from dataclasses import asdict, dataclass, field, replace

NUM_CLASSES = 10  # CIFAR-10
PRECISIONS = ("auto", "float32", "bfloat16")


# The sane range of each setting a user can choose (inclusive): outside them a run is refused with the range
# in the message, and the dashboard offers only these. A learning rate of 0.5 or a checkpoint every step
# destroyed runs (and their good checkpoints) before.
SETTING_RANGES = {
    "steps": (1, 10_000_000),
    "batch_size": (8, 1024),
    "learning_rate": (1e-6, 0.05),
    "eval_every": (10, 100_000),
    "checkpoint_every": (10, 1_000_000),
}


@dataclass(frozen=True)
class Distortions:
    """How strongly training distorts each image; the defaults are the notebook's."""
    flip: bool = True                            # random left-right flip
    hue: float = 0.05                            # max |hue shift|, as a fraction of the colour wheel
    contrast: tuple[float, float] = (0.3, 1.0)   # contrast factor range (1 = unchanged)
    brightness: float = 0.2                      # max |brightness shift|, on the 0..1 scale
    saturation: tuple[float, float] = (0.0, 2.0)  # saturation factor range (0 = grey, 1 = unchanged)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        for key in ("contrast", "saturation"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass(frozen=True)
class ModelConfig:
    """What defines the network (its weights fit only a network with the same ModelConfig)."""
    batch_norm_conv2: bool = True    # batch-norm after conv2 too (the notebook has it after conv1 only)

    def describe(self):
        """A few words that tell this network from the others, e.g. 'batch-norm after conv1 only'."""
        return "batch-norm after conv1 and conv2" if self.batch_norm_conv2 else "batch-norm after conv1 only"


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "default"
    steps: int = 36_000              # iterations (batches) per run, as the notebook's optimize(num_iterations)
    batch_size: int = 128            # images per step
    learning_rate: float = 2e-3      # Adam's (peak) learning rate
    schedule: str = "onecycle"       # "constant" (the notebook) or "onecycle": warm-up, then cosine to 0 at the run's end
    warmup_steps: int = 300          # steps of linear warm-up for "onecycle"
    label_smoothing: float = 0.0     # the loss aims at 1 - this for the true class (the rest shared out):
                                     # the network is not pushed to ever more confident answers
    weight_decay: float = 0.0        # decoupled weight decay (AdamW) of the kernels: each step shrinks them by
                                     # learning rate x this, so no weight grows beyond what the loss needs
    model: ModelConfig = field(default_factory=ModelConfig)
    precision: str = "auto"          # "float32", "bfloat16" (bfloat16 maths, float32 weights) or "auto":
                                     # bfloat16 where the CPU computes it natively (AVX512-BF16, AMX)
    distortions: Distortions = field(default_factory=Distortions)
    eval_every: int = 200            # steps between test-accuracy checks on a fixed test subset
    eval_images: int = 1000          # size of that fixed subset (the full test set is used at checkpoints)
    checkpoint_every: int = 1000     # steps between checkpoints (and one on stop)
    keep_checkpoints: int = 5        # older checkpoints are deleted beyond this many
    seed: int = 0                    # seeds batch order and distortions

    def to_json(self):
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["distortions"] = Distortions.from_dict(d.get("distortions", {}))
        # Checkpoints saved before ModelConfig kept batch_norm_conv2 at the top level.
        model = dict(d.get("model", {}))
        if "batch_norm_conv2" in d:
            model.setdefault("batch_norm_conv2", d.pop("batch_norm_conv2"))
        d["model"] = ModelConfig(**model)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def learning_rate_at(self, step_in_run):
        """Adam's learning rate at a step of a run (0-based)."""
        if self.schedule == "constant":
            return self.learning_rate
        warmup = min(self.warmup_steps, self.steps // 5)  # a short run still spends most steps learning
        if step_in_run < warmup:
            return self.learning_rate * (step_in_run + 1) / warmup
        progress = (step_in_run - warmup) / max(1, self.steps - warmup)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def validate(self):
        """Raise ValueError naming the first setting outside its sane range (SETTING_RANGES), with the range."""
        for name, (low, high) in SETTING_RANGES.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low <= value <= high):
                raise ValueError(f"{name} must be between {_number(low)} and {_number(high)}; got {value!r}")
        if self.schedule not in ("constant", "onecycle"):
            raise ValueError(f"schedule must be 'constant' or 'onecycle'; got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        if not 0.0 <= self.weight_decay <= 1.0:
            raise ValueError(f"weight_decay must be between 0 and 1; got {self.weight_decay!r}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be at least 0 and below 0.5; got {self.label_smoothing!r}")
        if not 1 <= self.keep_checkpoints <= 100 or self.eval_images < 1 or self.warmup_steps < 0:
            raise ValueError("keep_checkpoints must be between 1 and 100, eval_images at least 1 and "
                             "warmup_steps at least 0")
        return self


def _number(value):
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


# Gentler distortions than the notebook's: its strong colour changes slow learning a lot
# (measured in benchmarks/time_to_accuracy.py); crops and flips do most of the good.
MILD = Distortions(hue=0.02, contrast=(0.8, 1.2), brightness=0.1, saturation=(0.7, 1.3))
# Crops and flips only: in a run of a few epochs no colour change pays for itself (1,100 steps of 256 on the full
# data: 70.3% against 69.7% with MILD, benchmarks/recipe_curve.py).
CROP_FLIP = Distortions(hue=0.0, contrast=(1.0, 1.0), brightness=0.0, saturation=(1.0, 1.0))

PRESETS = {
    # Exactly the notebook: Adam 1e-4, batch 64, its distortions, BN after conv1 only, 100,000 iterations.
    "notebook": TrainConfig(preset="notebook", steps=100_000, batch_size=64, learning_rate=1e-4,
                            schedule="constant", warmup_steps=0, model=ModelConfig(batch_norm_conv2=False),
                            precision="float32", distortions=Distortions(), checkpoint_every=1000),
    # The default: the notebook's network (plus BN after conv2), one-cycle Adam at a high peak with label smoothing
    # and weight decay, mild distortions, batches of 256: 8,000 steps (41 epochs) to ~80%, in under 8 minutes on
    # a 2-core CPU with native bfloat16 (AMD Zen 5). The notebook takes 128 epochs (100,000 steps of 64) to ~80%, the
    # previous default (batch 128, peak 2e-3, neither smoothing nor decay) ~69 epochs.
    "default": TrainConfig(preset="default", steps=8_000, batch_size=256, learning_rate=5e-3, label_smoothing=0.1,
                           weight_decay=0.05, distortions=MILD),
    # A lesson that starts from nothing: the same recipe in 1,100 steps (5.6 epochs) with crops and flips only,
    # ~70% in about a minute.
    "quick": TrainConfig(preset="quick", steps=1_100, batch_size=256, learning_rate=5e-3, warmup_steps=100,
                         label_smoothing=0.1, weight_decay=0.05, distortions=CROP_FLIP, eval_every=100,
                         checkpoint_every=500),
}


def preset(name, **overrides):
    """The named preset, with any settings overridden; ValueError for an unknown name."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets are: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides).validate()
