"""The model package: official HRNet structure, SGM placement and overhead, weights loading, MACs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from sgpose_lib.config import SGM_SITES, ModelConfig
from sgpose_lib.errors import CheckpointError, ConfigError
from sgpose_lib.model import (PRESETS, PoseHighResolutionNet, build_model, count_macs, count_parameters,
                              info_text, load_weights, model_complexity)
from sgpose_lib.model.hrnet import _hrnet

ANCHOR = Path(__file__).parent / "data" / "official_pose_hrnet_w32_state_dict.json"
TINY = PRESETS["hrnet_tiny"]


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic a non-trivial value (the official init makes outputs ~0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith("running_var")
                        else torch.randn(t.shape, generator=g) * 0.3)
    return model.eval()


# ------------------------------------------------------------------------------ structure and size
@pytest.fixture(scope="module")
def w32() -> PoseHighResolutionNet:
    return PoseHighResolutionNet(PRESETS["hrnet_w32"], num_joints=17)


def test_w32_state_dict_is_the_official_one(w32):
    anchor = json.loads(ANCHOR.read_text())
    ours = {k: list(v.shape) for k, v in w32.state_dict().items()}
    assert ours == anchor["state_dict"]
    assert list(ours) == list(anchor["state_dict"])  # same order too
    assert count_parameters(w32) == anchor["num_parameters"] == 28_536_113


def test_sgm_parameter_overhead_by_hand():
    sg = PoseHighResolutionNet(PRESETS["hrnet_w32"], 17, SGM_SITES)
    c = 32  # every site acts on the highest-resolution branch, 32 channels in W32
    per_site = 9 * c * c + 2 * c + (c + 1)  # 3x3 conv C->C no bias, BN weight+bias, 1x1 conv C->1 + bias
    assert count_parameters(sg) - 28_536_113 == 4 * per_site == 37_252
    assert count_parameters(sg, sgm=False) == 28_536_113
    assert sorted({k.split(".")[1] for k in sg.state_dict() if k.startswith("sgm.")}) == sorted(SGM_SITES)


def test_small_preset_size():
    assert count_parameters(PoseHighResolutionNet(PRESETS["hrnet_small"], 16)) == 1_391_056
    assert count_parameters(PoseHighResolutionNet(PRESETS["hrnet_small"], 17)) == 1_391_073


@pytest.mark.parametrize("preset, size", [("hrnet_tiny", (64, 64)), ("hrnet_tiny", (96, 128)),
                                          ("hrnet_small", (64, 96)), ("hrnet_w32", (64, 64))])
@pytest.mark.parametrize("sites", [(), ("stage3", "final"), SGM_SITES])
def test_output_shapes(preset, size, sites):
    w, h = size
    model = PoseHighResolutionNet(PRESETS[preset], 16, sites)
    heatmaps, seg = model(torch.randn(2, 3, h, w))
    assert heatmaps.shape == (2, 16, h // 4, w // 4)
    assert len(seg) == len(sites) and all(s.shape == (2, 1, h // 4, w // 4) for s in seg)


def test_sites_keep_official_order_and_unknown_site_fails():
    assert list(PoseHighResolutionNet(TINY, 17, ("final", "stage2")).sgm) == ["stage2", "final"]
    with pytest.raises(ConfigError, match="stage5"):
        PoseHighResolutionNet(TINY, 17, ("stage5",))
    with pytest.raises(ConfigError, match="attention"):
        PoseHighResolutionNet(TINY, 17, ("final",), attention="add")


def test_build_model_from_config(tmp_path):
    model = build_model(ModelConfig(preset="hrnet_tiny", num_joints=16, sgm_sites=("stage2",)))
    assert model.final_layer.out_channels == 16 and list(model.sgm) == ["stage2"]
    with pytest.raises(ConfigError, match="hrnet_w32"):  # names the known presets
        build_model(ModelConfig(preset="hrnet_w33"))
    path = tmp_path / "pose.pth"
    torch.save(randomized(PoseHighResolutionNet(TINY, 16)).state_dict(), path)
    loaded = build_model(ModelConfig(preset="hrnet_tiny", num_joints=16, pretrained=str(path)))
    assert torch.equal(loaded.final_layer.weight, torch.load(path)["final_layer.weight"])


# ----------------------------------------------------------------------------------- SGM behaviour
def test_all_pass_gate_gives_the_baseline():
    """With s = sigmoid(logits) forced to exactly 1, the SG network with the baseline's weights is the
    baseline: the SGM is a pure insertion, and the rest of the graph is untouched."""
    x = torch.randn(2, 3, 64, 64)
    base = randomized(PoseHighResolutionNet(TINY, 17))
    for attention, bias in (("multiply", 30.0), ("residual", -30.0)):  # s = 1 and s = 0: both y = x
        sg = randomized(PoseHighResolutionNet(TINY, 17, SGM_SITES, attention), seed=1)
        missing, unexpected = sg.load_state_dict(base.state_dict(), strict=False)
        assert all(k.startswith("sgm.") for k in missing) and not unexpected
        with torch.no_grad():
            for m in sg.sgm.values():
                m.conv2.weight.zero_()
                m.conv2.bias.fill_(bias)
            (h_base, seg_base), (h_sg, seg_sg) = base(x), sg(x)
        assert seg_base == [] and len(seg_sg) == 4
        assert torch.equal(h_base, h_sg)
    sg = randomized(PoseHighResolutionNet(TINY, 17, SGM_SITES), seed=1)
    sg.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(sg(x)[0], base(x)[0])  # a real gate changes the output


def test_sgm_sits_before_fusion_and_before_final_layer():
    """What the fusion of stage 2/3's last module receives from branch 0 is the SGM's output, and so is
    the input of final_layer. (Stage 4's last module adds branch 0 to its only output unchanged.)"""
    model = randomized(PoseHighResolutionNet(TINY, 17, SGM_SITES))
    seen = {}
    for site, sgm in model.sgm.items():
        sgm.register_forward_hook(lambda m, i, out, site=site: seen.__setitem__(site, out[0]))
    for n in (2, 3):  # the path from branch 0 to fused output 1
        path = getattr(model, f"stage{n}")[-1].fuse_layers[1][0]
        path.register_forward_pre_hook(lambda m, i, n=n: seen.__setitem__(f"fuse{n}", i[0]))
    model.final_layer.register_forward_pre_hook(lambda m, i: seen.__setitem__("head", i[0]))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert torch.equal(seen["fuse2"], seen["stage2"]) and torch.equal(seen["fuse3"], seen["stage3"])
    assert torch.equal(seen["head"], seen["final"])
    assert seen["stage4"].shape == (1, 8, 16, 16)  # branch 0 of stage 4


def test_every_sgm_gets_gradient_from_both_tasks():
    model = PoseHighResolutionNet(TINY, 17, SGM_SITES)
    heatmaps, seg = model(torch.randn(2, 3, 64, 64))
    (heatmaps.square().mean() + sum(s.mean() for s in seg)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.sgm.parameters())


# ----------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("wrap", ["raw", "module", "state_dict", "model"])
def test_pose_checkpoint_roundtrip(tmp_path, wrap):
    source = randomized(PoseHighResolutionNet(TINY, 17))
    sd = source.state_dict()
    obj = {"raw": sd, "module": {f"module.{k}": v for k, v in sd.items()},
           "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd, "step": 10}}[wrap]
    path = tmp_path / "pose.pth"
    torch.save(obj, path)
    target = PoseHighResolutionNet(TINY, 17).eval()
    report = load_weights(target, path)
    assert report.mode == "pose" and report.missing == [] and report.skipped == []
    assert sorted(report.loaded) == sorted(sd)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(target(x)[0], source(x)[0])


def test_sg_model_loads_baseline_pose_checkpoint(tmp_path, capsys):
    path = tmp_path / "pose.pth"
    torch.save(randomized(PoseHighResolutionNet(TINY, 17)).state_dict(), path)
    sg = PoseHighResolutionNet(TINY, 17, SGM_SITES)
    before = {k: v.clone() for k, v in sg.state_dict().items() if k.startswith("sgm.")}
    report = load_weights(sg, path, mode="pose")
    assert sorted(report.missing) == sorted(before)  # only the SGM tensors are new
    assert all(torch.equal(sg.state_dict()[k], v) for k, v in before.items())  # and keep their init
    assert "mode=pose" in capsys.readouterr().out


def test_checkpoint_of_another_width_is_refused(tmp_path):
    path = tmp_path / "w12.pth"
    torch.save(PoseHighResolutionNet(_hrnet("w12", 12, 1, (1, 1, 1), 1), 17).state_dict(), path)
    for mode in ("auto", "pose", "imagenet"):
        with pytest.raises(CheckpointError, match=r"mismatching tensors: .*transition1\.0\.0\.weight"):
            load_weights(PoseHighResolutionNet(TINY, 17), path, mode=mode)
    bigger = tmp_path / "extra.pth"
    sd = PoseHighResolutionNet(TINY, 17).state_dict()
    torch.save({**sd, "extra.weight": torch.zeros(3)}, bigger)
    with pytest.raises(CheckpointError, match="extra.weight unexpected"):
        load_weights(PoseHighResolutionNet(TINY, 17), bigger, mode="pose")


@pytest.mark.parametrize("content", ["text", "list", "missing"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "notes.pth"
    if content == "text":
        path.write_text("these are not weights\n")
    elif content == "list":
        torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="notes.pth"):
        load_weights(PoseHighResolutionNet(TINY, 17), path)


def test_imagenet_checkpoint_loads_backbone(tmp_path, capsys):
    """A classification checkpoint (official or timm naming, which coincide): backbone names plus a
    classification head, stage 4 fused at every scale, and a `final_layer.0` of another shape."""
    model = PoseHighResolutionNet(TINY, 17, SGM_SITES)
    backbone = {k: torch.randn(v.shape) if v.is_floating_point() else v
                for k, v in model.state_dict().items() if not k.startswith(("sgm.", "final_layer."))}
    head = {"incre_modules.0.0.conv1.weight": torch.zeros(32, 8, 1, 1),
            "stage4.0.fuse_layers.1.0.0.0.weight": torch.zeros(16, 8, 3, 3),
            "final_layer.0.weight": torch.zeros(2048, 1024, 1, 1),
            "classifier.weight": torch.zeros(1000, 2048), "classifier.bias": torch.zeros(1000)}
    path = tmp_path / "hrnet_w32-36af842e.pth"
    torch.save({f"module.{k}": v for k, v in {**backbone, **head}.items()}, path)
    report = load_weights(model, path)
    assert report.mode == "imagenet"
    assert sorted(report.loaded) == sorted(backbone)
    assert sorted(report.skipped) == sorted(head)
    sgm_keys = [k for k in model.state_dict() if k.startswith("sgm.")]
    assert sorted(report.missing) == sorted(["final_layer.weight", "final_layer.bias", *sgm_keys])
    assert torch.equal(model.state_dict()["stage4.0.branches.3.0.conv1.weight"],
                       backbone["stage4.0.branches.3.0.conv1.weight"])
    out = capsys.readouterr().out
    assert "mode=imagenet" in out and "classifier" in out and "final_layer.weight" in out


# ------------------------------------------------------------------------------------------- MACs
def test_macs_equal_the_official_conv_count():
    """The official tool's count: per conv, weight elements x output pixels (bias not counted)."""
    model = PoseHighResolutionNet(TINY, 17, SGM_SITES)
    total = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda m, i, out: total.append(m.weight.numel() * out[0, 0].numel()))
    assert count_macs(model, (96, 64)) == sum(total)
    assert model.training  # mode restored


def test_w32_macs_match_the_official_number(w32):
    macs = count_macs(w32, (192, 256))
    assert 7.1e9 < macs < 7.7e9
    assert round(macs / 1024 ** 3, 2) == 7.12  # what the official tool prints
    assert macs == 7_645_003_776
    sg = PoseHighResolutionNet(PRESETS["hrnet_w32"], 17, SGM_SITES)
    c, pixels = 32, 64 * 48  # SGM convs: 3x3 C->C and 1x1 C->1 at the heatmap resolution, 4 sites
    assert count_macs(sg, (192, 256)) - macs == 4 * (9 * c * c + c) * pixels


def test_info_text():
    text = info_text("hrnet_tiny", sgm=True, input_size=(64, 64), num_joints=16)
    assert "333,296" in text and "SG - baseline" in text and "+2,404" in text and "multiply-adds" in text
    with pytest.raises(ConfigError):
        info_text("nope", sgm=False, input_size=(64, 64))


def test_model_complexity_leaves_the_callers_random_state():
    """model_complexity builds a real model (random initialisation) under a forked RNG: what the
    caller draws next is what it would have drawn without the call; the numbers are count_macs
    and count_parameters of that model."""
    model_complexity.cache_clear()
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    params, macs = model_complexity("hrnet_tiny", ("final",), 16, (64, 64))
    assert torch.equal(torch.rand(4), expected)
    tiny = PoseHighResolutionNet(TINY, 16, ("final",))
    assert (params, macs) == (count_parameters(tiny), count_macs(tiny, (64, 64)))
