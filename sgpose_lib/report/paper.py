"""The paper's numbers, as printed, and the fixed texts of our tables.

Tables 1-3 of Tang et al. (2024) are copied cell by cell (PCKh@0.5 and COCO AP/AR in %, Params in
M, GFLOPs as printed); `DATA_TEXT` says, per track, what our embedded data is and how it is scored.
Nothing here is computed: the tables, figures and the discussion read these values.
"""
from __future__ import annotations

PAPER_CITATION = ("Tang J., Lu J., Zhang X., Zhao F. (2024). Segmentation Guided Attention "
                  "Networks for Human Pose Estimation. Traitement du Signal 41(5). "
                  "https://doi.org/10.18280/ts.410522 (CC BY 4.0)")

PCKH_COLUMNS = ("Head", "Sho", "Elb", "Wri", "Hip", "Kne", "Ank", "Mean")
COCO_COLUMNS = ("AP", "AP50", "AP75", "APM", "APL", "AR")
BODY_COLUMNS = tuple(f"body_{c}" for c in COCO_COLUMNS)

# Table 1 of the paper: PCKh@0.5 on the MPII validation set (HRNet-W32 and "Our", single runs).
PAPER_TABLE1 = {
    "HRNet-W32": {"Params": "28.5M", "GFLOPs": "7.10", "Head": 97.1, "Sho": 95.9, "Elb": 90.3,
                  "Wri": 86.4, "Hip": 89.1, "Kne": 87.1, "Ank": 83.3, "Mean": 90.3},
    "SG-HRNet (Our)": {"Params": "28.5M", "GFLOPs": "7.10", "Head": 97.3, "Sho": 96.2,
                       "Elb": 90.9, "Wri": 86.4, "Hip": 89.9, "Kne": 86.8, "Ank": 83.4,
                       "Mean": 90.6},
}
# Table 2 of the paper: COCO val2017, detector boxes, 256x192; Params in M, GFLOPs, AP ... AR in %.
PAPER_TABLE2 = {
    "HRNet-W32, pretrain Y": {"Params": "28.5", "GFLOPs": "7.10", "AP": 74.4, "AP50": 90.5,
                              "AP75": 81.9, "APM": 70.8, "APL": 81.0, "AR": 79.8},
    "HRNet-W32, pretrain N": {"Params": "28.5", "GFLOPs": "7.10", "AP": 72.0, "AP50": 89.3,
                              "AP75": 79.8, "APM": 68.7, "APL": 78.9, "AR": 77.8},
    "SG-HRNet (Our), pretrain Y": {"Params": "28.5", "GFLOPs": "7.10", "AP": 76.3, "AP50": 93.5,
                                   "AP75": 83.6, "APM": 73.6, "APL": 80.9, "AR": 79.5},
}
# Table 3 of the paper: SG-HRNet on the MPII validation set for disc radius r (PCKh@0.5). Its r=5
# row has Hip 89.8 where Table 1's "Our" row has 89.9: both are copied as printed.
PAPER_TABLE3 = {
    3: {"Head": 97.2, "Sho": 96.1, "Elb": 90.9, "Wri": 86.1, "Hip": 89.2, "Kne": 86.5,
        "Ank": 83.3, "Mean": 90.4},
    5: {"Head": 97.3, "Sho": 96.2, "Elb": 90.9, "Wri": 86.4, "Hip": 89.8, "Kne": 86.8,
        "Ank": 83.4, "Mean": 90.6},
    9: {"Head": 97.2, "Sho": 95.9, "Elb": 90.9, "Wri": 86.0, "Hip": 89.1, "Kne": 86.5,
        "Ank": 82.7, "Mean": 90.3},
}
PAPER_RADII = (3, 5, 9)

DATA_TEXT = {
    "mpii": ("MPII-style track of the embedded data: 2,000 LSP-Extended images in the MPII "
             "16-joint layout (seeded split 1,600 train / 400 val), PCKh@0.5 with head size 0.75 × "
             "‖head_top − neck‖ (the MPII-equivalent of 0.6 × head-box diagonal). LSPET has no "
             "pelvis/thorax labels (both are out of the Mean, as in the official evaluation); Hip "
             "is the left/right hip."),
    "coco": ("COCO track of the embedded data: training on LSPET body joints mapped into the "
             "COCO-17 layout plus the COCO train2017-origin persons; OKS AP by pycocotools on the "
             "60 COCO val2017-origin images with ground-truth boxes (the paper: detector boxes). "
             "Body-only AP: the same predictions scored against a ground truth with the 5 face "
             "keypoints removed (LSPET has no face joints)."),
}
