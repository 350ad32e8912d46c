"""HRNet for pose estimation with optional Segmentation Guided Modules; weights loading; complexity."""
from .checkpoint import LoadReport, load_weights
from .complexity import count_macs, count_parameters, info_text, model_complexity
from .hrnet import PRESETS, PoseHighResolutionNet, Preset, StageSpec, build_model
from .sgm import SGM

__all__ = ["build_model", "PRESETS", "Preset", "StageSpec", "PoseHighResolutionNet", "SGM",
           "load_weights", "LoadReport", "count_parameters", "count_macs", "info_text",
           "model_complexity"]
