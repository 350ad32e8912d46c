"""The inference path that evaluate, analyze and baselines use by default (BN folded into the
convs, channels_last weights) gives the eager model's heatmaps and metrics."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sgpose_lib.data import build_dataset
from sgpose_lib.engine.evaluate import evaluate_checkpoint
from sgpose_lib.engine.inference import (COMPILE_MIN_GMACS, FixedBatch, compile_for_set,
                                         compile_wanted, load_checkpoint_model, predict)
from sgpose_lib.model import model_complexity
from sgpose_lib.errors import ConfigError
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


def test_compiled_inference_path_equals_eager_within_1e_4(trained):
    """eval.compile = "on": the compiled inference path (frozen weights, batches padded to
    eval.batch_size) gives the eager model's heatmaps and maps, also for a batch smaller than
    eval.batch_size, and predict decodes the same keypoints."""
    fused, cfg, device = load_checkpoint_model(trained)
    eager, _, _ = load_checkpoint_model(trained, fused=False)
    dataset = build_dataset(cfg, "val")
    cfg.eval.compile, cfg.eval.batch_size = "on", 8
    compiled, was_compiled = compile_for_set(fused, cfg, len(dataset), flip=True)
    assert was_compiled and isinstance(compiled, FixedBatch)
    images = torch.stack([dataset[i]["image"] for i in range(5)])   # padded to 8 inside
    with torch.inference_mode():
        h_comp, s_comp = compiled(images.contiguous(memory_format=torch.channels_last))
        h_eager, s_eager = eager(images)
    assert h_comp.shape == h_eager.shape == (5, cfg.model.num_joints, *h_eager.shape[2:])
    assert (h_comp - h_eager).abs().max().item() < 1e-4
    assert all(a.shape == b.shape and (a - b).abs().max().item() < 1e-4
               for a, b in zip(s_comp, s_eager))
    a = predict(compiled, dataset, cfg, device)
    b = predict(eager, dataset, cfg, device)
    assert abs(a["preds"] - b["preds"]).max() < 1e-3 and abs(a["maxvals"] - b["maxvals"]).max() < 1e-4


def test_compile_threshold_by_the_sets_multiply_adds():
    """auto compiles when samples x forwards per sample x MACs per forward >= 10,000 G: HRNet-W32
    at 256x192 (7,645,003,776 multiply-adds per forward) with flip test reaches it at 655 samples
    (10,000 / (2 x 7.645) = 654.02), without at 1309; the cpu profile's model not at its 400
    validation samples. The bound checked first (parameters x ceil(H/2) x ceil(W/2) multiply-adds
    per forward) is above the exact count for each preset at its input size."""
    from sgpose_lib.params import load_config
    ROOT = Path(__file__).resolve().parents[1]
    w32 = load_config("paper", ROOT / "params.yaml", track="coco", variant="baseline", seed=0)
    assert w32.eval.compile == "auto"
    assert COMPILE_MIN_GMACS == 10_000
    w32_params, w32_macs = model_complexity("hrnet_w32", (), 17, (192, 256))
    assert w32_macs == 7_645_003_776
    assert not compile_wanted(w32, 654, True, w32_params) and compile_wanted(w32, 655, True, w32_params)
    assert not compile_wanted(w32, 1308, False, w32_params)
    assert compile_wanted(w32, 1309, False, w32_params)
    cpu = load_config("cpu", ROOT / "params.yaml", track="mpii", variant="sg", seed=0)
    cpu_params, cpu_macs = model_complexity(cpu.model.preset, tuple(cpu.model.sgm_sites),
                                            cpu.model.num_joints, tuple(cpu.data.input_size))
    assert not compile_wanted(cpu, 400, True, cpu_params)
    for preset, (w, h) in (("hrnet_w32", (192, 256)), ("hrnet_w32", (256, 256)),
                           (cpu.model.preset, (96, 96)), ("hrnet_tiny", (64, 64))):
        params, macs = model_complexity(preset, ("final",), 16, (w, h))
        assert macs < params * -(-h // 2) * -(-w // 2), preset
    cpu.eval.compile = "on"
    assert compile_wanted(cpu, 1, False, cpu_params)
    w32.eval.compile = "off"
    assert not compile_wanted(w32, 10**6, True, w32_params)


def test_evaluate_rejects_an_unknown_compile_choice(trained):
    with pytest.raises(ConfigError, match="eval.compile: 'sometimes' is not"):
        evaluate_checkpoint(trained, compile="sometimes")


def test_a_failing_compiler_falls_back_to_the_eager_path(trained, monkeypatch):
    """torch.compile failing at its first call (as without a C++ compiler): a warning names the
    error, and the eager inference path evaluates."""
    import sgpose_lib.engine.inference as inference

    def broken(model, **options):
        def call(*args):
            raise RuntimeError("no C++ compiler found\ndetails")
        return call
    monkeypatch.setattr(inference.torch, "compile", broken)
    fused, cfg, device = load_checkpoint_model(trained)
    cfg.eval.compile = "on"
    with pytest.warns(UserWarning, match=r"torch.compile failed \(RuntimeError: no C\+\+ compiler "
                                         r"found\); evaluating with the eager inference path"):
        model, compiled = compile_for_set(fused, cfg, 16, flip=True)
    assert model is fused and not compiled
