"""The inference path that evaluate, analyze and baselines use by default (BN folded into the
convs, channels_last weights) gives the eager model's heatmaps and metrics."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sgpose_lib.data import build_dataset
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.engine.inference import load_checkpoint_model
from sgpose_lib.engine.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prepared):
    """A smoke SG checkpoint after one epoch: BN statistics and affine terms away from their
    initial values, so that folding them is not a no-op."""
    from sgpose_lib.params import load_config
    ROOT = Path(__file__).resolve().parents[1]
    cfg = load_config("smoke", ROOT / "params.yaml", track="mpii", variant="sg", seed=0)
    cfg.data.root, cfg.data.image_root = str(prepared), str(ROOT / "data" / "embedded")
    cfg.train.epochs, cfg.data.limit_train, cfg.data.limit_val, cfg.data.workers = 1, 32, 16, 0
    out = tmp_path_factory.mktemp("fused") / "run"
    train(cfg, out, progress=False)
    return out / "last.pt"


def test_fused_heatmaps_and_maps_equal_eager_within_1e_5(trained):
    fused, cfg, device = load_checkpoint_model(trained)
    eager, _, _ = load_checkpoint_model(trained, fused=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in eager.modules())
    images = torch.stack([build_dataset(cfg, "val")[i]["image"] for i in range(8)])
    with torch.inference_mode():
        h_fused, s_fused = fused(images.contiguous(memory_format=torch.channels_last))
        h_eager, s_eager = eager(images)
    assert h_fused.shape == h_eager.shape and len(s_fused) == len(s_eager) == 4
    assert (h_fused - h_eager).abs().max().item() < 1e-5
    assert all((a - b).abs().max().item() < 1e-5 for a, b in zip(s_fused, s_eager))


def test_evaluation_metrics_fused_equal_eager(trained):
    fused = evaluate_checkpoint(trained)
    eager = evaluate_checkpoint(trained, fused=False)
    assert fused.keys() == eager.keys()
    assert all(fused[k] == pytest.approx(eager[k], abs=1e-9, nan_ok=True) for k in fused)
