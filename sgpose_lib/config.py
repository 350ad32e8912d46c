"""One typed configuration, read top to bottom, loaded from a profile of `params.yaml`.

`params.yaml` holds named profiles (`smoke`, `cpu`, `paper`, ...). A profile is a nested mapping whose
sections mirror the dataclasses below; every key is checked, and an unknown key or a bad value raises
`ConfigError` naming it. Run-level choices (track, variant, radius, seed) are applied on top with
`with_run()`.

Allowed values are declared here, once (TRACKS, SGM_SITES, ATTENTIONS, DWA_MODES, DEVICES,
GT_BOXES, DECODERS); the model, the losses and the command line import them. Values from YAML,
JSON or `--set` are coerced to each field's annotated type (config_fields.py).

Reading params.yaml (profiles, variants, `--set` overrides, the list of settable keys) is in
params.py; this module holds the dataclasses, their checks and the comparison of stored configs.

A bad image (missing, unreadable, or of another size than its annotation's width and height)
stops evaluation with a DataError naming it, and training too unless `data.skip_bad_images`
(then it is skipped, warned about once and counted; data/dataset.py).

Units: `image_size` is (width, height) of the network input in pixels (in YAML and `--set` a
list [width, height], or a text HEIGHTxWIDTH such as 256x192, the field's order); `sigma` and
`radius` are in pixels of the paper's heatmaps (64x48 COCO, 64x64 MPII) and are scaled with the
heatmap height for other input sizes (r = 5 is 2.5 pixels on a 32x24 heatmap), so that a radius
covers the same body-relative region in every profile. The official HRNet does the same for sigma
(2 at 64x48, 3 at 96x72).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .config_fields import apply_fields, coerce, from_dict
from .errors import ConfigError

TRACKS = ("mpii", "coco")                            # data.track: MPII-style (PCKh), COCO (OKS AP)
SGM_SITES = ("stage2", "stage3", "stage4", "final")  # model.sgm_sites, in the network's order
ATTENTIONS = ("multiply", "residual")                # model.attention (model.sgm.SGM)
COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune")  # train.compile
DWA_MODES = ("step", "epoch", "off")                 # loss.dwa (losses.DynamicWeightAverage)
DEVICES = ("auto", "cpu", "cuda")                    # train.device
GT_BOXES = "gt"                                      # eval.boxes: the annotated person boxes
DECODERS = ("standard", "dark")                      # eval.decoder (decode.decode_heatmaps)
EVAL_COMPILE = ("auto", "on", "off")                 # eval.compile (engine.inference.compile_for_set)
REFERENCE_HEATMAP_HEIGHT = 64  # the paper's inputs (256x192, 256x256) give 64-pixel-high heatmaps


@dataclass
class ModelConfig:
    preset: str = "hrnet_w32"        # width and stage layout, see sgpose_lib.model.PRESETS
    num_joints: int = 17             # K heatmaps (17 COCO, 16 MPII); set from the track
    sgm_sites: tuple[str, ...] = ()  # where the SGM is applied; () = plain HRNet
    attention: str = "multiply"      # "multiply": y = x * s (Eq. 4); "residual": y = x * (1 + s)
    pretrained: str = ""             # local path of ImageNet or pose weights; "" = official init


@dataclass
class AugmentConfig:
    """Training augmentation of one track (official HRNet `JointsDataset`). Defaults: the
    official COCO settings, which are the paper's; the MPII track uses the official MPII ones."""
    scale_factor: float = 0.35     # s *= clip(1 + f * N(0,1), 1 - f, 1 + f)
    rotation_factor: float = 45.0  # r = clip(f * N(0,1), -c * f, c * f) degrees ...
    rotation_clip: float = 2.0     # ... c: the official code clips at 2 f (+-90 deg for f = 45)
    rotation_prob: float = 0.6     # ... applied with this probability (official), else r = 0
    flip: bool = True              # horizontal flip with p = 0.5, joint pairs swapped
    half_body_prob: float = 0.3    # official COCO 0.3, MPII off (the paper does not say)
    half_body_min_joints: int = 8  # official NUM_JOINTS_HALF_BODY


@dataclass
class DataConfig:
    track: str = "mpii"                       # "mpii" (PCKh) or "coco" (OKS AP)
    root: str = "data/prepared"               # folder holding the prepared annotation files
    image_root: str = "data/embedded"         # image paths in the annotations are relative to it
    train_ann: str = ""                       # "" = <root>/<track>_train.json
    val_ann: str = ""                         # "" = <root>/<track>_val.json
    image_size: tuple[int, int] = (192, 256)  # (width, height) of the input, pixels, COCO track
    mpii_image_size: tuple[int, int] = (256, 256)  # (width, height) of the input, MPII track
    sigma: float = 2.0                        # Gaussian std, pixels of a 64-high heatmap (Eq. 3)
    radius: float = 5.0                       # disc radius r, pixels of a 64-high heatmap (Eq. 2)
    coco_augment: AugmentConfig = field(default_factory=AugmentConfig)  # COCO track (official)
    mpii_augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        scale_factor=0.25, rotation_factor=30.0, half_body_prob=0.0))  # official MPII recipe
    padding: float = 1.25                     # box -> scale padding (official)
    workers: int = 2                          # DataLoader worker processes
    limit_train: int = 0                      # use only the first N training samples (0 = all)
    limit_val: int = 0                        # use only the first N validation samples (0 = all)
    skip_bad_images: bool = False             # training: skip bad images, counted (else: stop)
    coco_dir: str = ""                        # a full COCO 2017 folder (annotations/, train2017/...)
    mpii_dir: str = ""                        # a full MPII folder in the official HRNet layout

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input for this track, pixels."""
        return tuple(self.mpii_image_size if self.track == "mpii" else self.image_size)

    @property
    def augment(self) -> AugmentConfig:
        """The training augmentation of this track."""
        return self.mpii_augment if self.track == "mpii" else self.coco_augment

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(width, height) of the heatmaps: 1/4 of the input."""
        return (self.input_size[0] // 4, self.input_size[1] // 4)

    @property
    def heatmap_scale(self) -> float:
        """Factor from the paper's heatmap pixels (64 high) to pixels of this heatmap."""
        return self.heatmap_size[1] / REFERENCE_HEATMAP_HEIGHT


@dataclass
class LossConfig:
    lam: float = 0.002             # lambda of Eq. 7
    dwa: str = "step"              # "step" (paper), "epoch" (MTAN), "off" (fixed weights w = 1)
    temperature: float = 1.0       # T of Eq. 8 (paper: none, i.e. 1; MTAN: 2)


@dataclass
class TrainConfig:
    epochs: int = 210              # training epochs
    batch_size: int = 32           # images per optimizer step (all processes together)
    lr: float = 1e-3               # Adam learning rate
    lr_steps: tuple[int, ...] = (170, 200)  # lr x lr_factor from these epochs on (0-based)
    lr_factor: float = 0.1         # learning-rate multiplier at each of lr_steps
    seed: int = 0                  # seeds the initialisation, augmentation and sample order
    device: str = "auto"           # "auto", "cpu", "cuda"
    bf16: bool = False             # autocast to bfloat16 on CUDA
    channels_last: bool = False    # channels-last memory format for the model and its inputs
    sync_bn: bool = False          # SyncBatchNorm under torchrun
    threads: int = 0               # torch.set_num_threads; 0 = leave torch's default
    val_every: int = 1             # validate every N epochs and after the last; 0 = never
                                   # (the evaluate stage scores the final checkpoint)
    log_every: int = 1             # steps between host reads of the losses; 1 = every step
                                   # (the finite check before each update); > 1 keeps a GPU busy:
                                   # DWA on the device, the same log, the check N steps late
    compile: str = ""              # torch.compile mode of the training step: "" = eager,
                                   # "default", "reduce-overhead" (CUDA graphs), "max-autotune"


@dataclass
class EvalConfig:
    flip_test: bool = True         # average with the mirrored image's heatmaps (official)
    shift_heatmap: bool = True     # official SHIFT_HEATMAP: flipped heatmap moved by one pixel
    batch_size: int = 64           # images per inference batch
    boxes: str = "gt"              # "gt" or a path to a COCO detector-results JSON
    in_vis_thre: float = 0.2       # official rescoring threshold
    oks_thre: float = 0.9          # official OKS-NMS threshold
    image_thre: float = 0.0        # detector boxes below this score are dropped
    decoder: str = "standard"      # "standard" (argmax + quarter-pixel step) or "dark" (DARK)
                                   # heatmap decoding of validation and analyses; `sgpose
                                   # evaluate` scores both (metrics.json, dark/metrics.json)
    compile: str = "auto"          # torch.compile of the inference path (frozen weights) in
                                   # `sgpose evaluate`: "auto" where the set's forward work
                                   # repays the compilation (inference.COMPILE_MIN_GMACS), "on",
                                   # "off"; outputs equal to the eager model's up to float rounding


@dataclass
class Config:
    profile: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    variant: str = "baseline"      # name of the variant this config was built for

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Raise ConfigError for any value outside its domain: the choices declared above, the
        input sizes, and every number against its range in NUMBER_RANGES."""
        d, m = self.data, self.model
        if d.track not in TRACKS:
            raise ConfigError(f"data.track: {d.track!r} is not one of {TRACKS}")
        for name in ("image_size", "mpii_image_size"):
            size = tuple(getattr(d, name))
            if len(size) != 2 or any(v <= 0 or v % 32 for v in size):
                raise ConfigError(f"data.{name}: {list(size)} ([width, height]) must be "
                                  "positive multiples of 32, two of them (HRNet fuses branches "
                                  "at strides 4 to 32)")
        self._validate_numbers()
        bad = [s for s in m.sgm_sites if s not in SGM_SITES]
        if bad:
            raise ConfigError(f"model.sgm_sites: {bad} not in {SGM_SITES}")
        if m.attention not in ATTENTIONS:
            raise ConfigError(f"model.attention: {m.attention!r} is not {_either(ATTENTIONS)}")
        if self.loss.dwa not in DWA_MODES:
            raise ConfigError(f"loss.dwa: {self.loss.dwa!r} is not {_either(DWA_MODES)}")
        t = self.train
        if t.device not in DEVICES:
            raise ConfigError(f"train.device: {t.device!r} is not {_either(DEVICES)}")
        if t.compile not in COMPILE_MODES:
            raise ConfigError(f"train.compile: {t.compile!r} is not {_either(COMPILE_MODES)}")
        if self.eval.decoder not in DECODERS:
            raise ConfigError(f"eval.decoder: {self.eval.decoder!r} is not {_either(DECODERS)}")
        if self.eval.compile not in EVAL_COMPILE:
            raise ConfigError(f"eval.compile: {self.eval.compile!r} is not {_either(EVAL_COMPILE)}")
        return self

    def _validate_numbers(self) -> None:
        """Each key of NUMBER_RANGES (each item of a list) within its range, floats finite:
        a bad value would fail with a traceback much later, or train silently with, e.g., a
        negative learning rate."""
        for key, rule in NUMBER_RANGES:
            value = self
            for part in key.split("."):
                value = getattr(value, part)
            for item in value if isinstance(value, tuple) else (value,):
                finite = not isinstance(item, float) or math.isfinite(item)
                if not (finite and _RULES[rule](item)):
                    raise ConfigError(f"{key}: {item} must be {rule}"
                                      + (" (a finite number)" if isinstance(item, float) else ""))

    def with_run(self, track: str | None = None, variant: str | None = None,
                 radius: float | None = None, seed: int | None = None,
                 variants: dict[str, dict] | None = None) -> "Config":
        """A copy for one run: `variant` names an entry of `variants` (params.yaml `variants`)."""
        cfg = from_dict(Config, self.to_dict(), "config")
        if track is not None:
            cfg.data.track = track
        if variant is not None:
            table = variants if variants is not None else DEFAULT_VARIANTS
            if variant not in table:
                raise ConfigError(f"variant: {variant!r} is not one of {sorted(table)}")
            apply_fields(cfg, table[variant], f"variants.{variant}")
            cfg.variant = variant
        if radius is not None:
            cfg.data.radius = coerce(radius, float, "radius")
        if seed is not None:
            cfg.train.seed = coerce(seed, int, "seed")
        cfg.model.num_joints = 16 if cfg.data.track == "mpii" else 17
        return cfg.validate()


_RULES = {"> 0": lambda v: v > 0, ">= 0": lambda v: v >= 0, ">= 1": lambda v: v >= 1,
          "in [0, 1]": lambda v: 0 <= v <= 1, "in [0, 1)": lambda v: 0 <= v < 1}
_AUGMENT_RANGES = (("scale_factor", "in [0, 1)"), ("rotation_factor", ">= 0"),
                   ("rotation_clip", "> 0"), ("rotation_prob", "in [0, 1]"),
                   ("half_body_prob", "in [0, 1]"), ("half_body_min_joints", ">= 0"))
# The allowed range of every number of a Config (a list: of each item); Config.validate checks
# them, and a float must be finite. The input sizes are checked apart (multiples of 32).
NUMBER_RANGES: tuple[tuple[str, str], ...] = (
    ("model.num_joints", "> 0"),
    ("data.sigma", "> 0"), ("data.radius", "> 0"), ("data.padding", "> 0"),
    *((f"data.{track}_augment.{key}", rule) for track in TRACKS for key, rule in _AUGMENT_RANGES),
    ("data.workers", ">= 0"), ("data.limit_train", ">= 0"), ("data.limit_val", ">= 0"),
    ("loss.lam", ">= 0"), ("loss.temperature", "> 0"),
    ("train.epochs", "> 0"), ("train.batch_size", "> 0"), ("train.lr", "> 0"),
    ("train.lr_steps", ">= 0"), ("train.lr_factor", "> 0"), ("train.seed", ">= 0"),
    ("train.threads", ">= 0"), ("train.val_every", ">= 0"), ("train.log_every", ">= 1"),
    ("eval.batch_size", "> 0"), ("eval.in_vis_thre", "in [0, 1]"),
    ("eval.oks_thre", "in [0, 1]"), ("eval.image_thre", "in [0, 1]"),
)


# The variants of the study; params.yaml may redefine or extend them under `variants:`.
DEFAULT_VARIANTS: dict[str, dict] = {
    "baseline": {"model": {"sgm_sites": []}},
    "sg": {"model": {"sgm_sites": list(SGM_SITES)}},
}


def _either(values: tuple[str, ...]) -> str:
    """"'a', 'b' or 'c'": the allowed values of a setting, for messages."""
    quoted = [repr(v) for v in values]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


RESULT_FREE_KEYS = ("data.workers", "train.device", "eval.batch_size")  # may differ on resume


def config_differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for every leaf that differs between two `Config.to_dict()`s, leaving out
    RESULT_FREE_KEYS and train.epochs (a run may be continued for more epochs)."""
    out = []
    for key in sorted(set(stored) | set(current)):
        name = f"{prefix}{key}"
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{name}.")
        elif name not in (*RESULT_FREE_KEYS, "train.epochs") and _canon(a) != _canon(b):
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True)


# augmentation keys that sat directly under `data` before it became per track (one setting for
# both tracks, rotation clipped at +-rotation_factor)
_LEGACY_AUGMENT = ("scale_factor", "rotation_factor", "rotation_prob", "flip", "half_body_prob",
                   "half_body_min_joints")


def config_from_dict(values: dict, where: str = "config") -> Config:
    """A Config from `Config.to_dict()` output (e.g. the copy stored in a checkpoint); the flat
    augmentation keys of older checkpoints are read as both tracks' setting, clip 1."""
    data = dict(values.get("data") or {})
    legacy = {k: data.pop(k) for k in _LEGACY_AUGMENT if k in data}
    if legacy:
        legacy["rotation_clip"] = 1.0
        data["coco_augment"] = data["mpii_augment"] = legacy
        values = {**values, "data": data}
    return from_dict(Config, values, where).validate()
