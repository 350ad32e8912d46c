"""The Segmentation Guided Module (SGM, Sec. 3.2-3.3 of the paper), our reading of it.

    logits = conv1x1(relu(bn(conv3x3(x))))      one map, (B, 1, H, W), at the resolution of x
    s      = sigmoid(logits)                    the predicted segmentation (attention) map
    y      = x * s          attention="multiply" (Eq. 4)
    y      = x * (1 + s)    attention="residual" (an ablation: the map can only amplify)

A BN + ReLU sits between the two convolutions because two convolutions with nothing between them
collapse to one linear map. The logits (not s) are returned: the loss uses the stable BCE-with-logits.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import ATTENTIONS
from ..errors import ConfigError


class SGM(nn.Module):
    def __init__(self, channels: int, attention: str = "multiply", bn_momentum: float = 0.1):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ConfigError(f"model.attention: {attention!r} is not one of {ATTENTIONS}")
        self.attention = attention
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)  # C -> C, 9C^2 params
        self.bn = nn.BatchNorm2d(channels, momentum=bn_momentum)           # 2C params
        self.conv2 = nn.Conv2d(channels, 1, 1)                              # C -> 1, C + 1 params

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) -> (y: (B, C, H, W), logits: (B, 1, H, W))."""
        logits = self.conv2(torch.relu(self.bn(self.conv1(x))))
        s = torch.sigmoid(logits)
        y = x * s if self.attention == "multiply" else x * (1 + s)
        return y, logits
