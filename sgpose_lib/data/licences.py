"""Licences of the embedded COCO images: which of them may appear in a published figure.

COCO images carry a Flickr licence id; those whose licence forbids derivatives (NoDerivs) or
commercial use (NonCommercial) stay out of every figure (sample grids, attention maps, the
background-swap figure). The LSPET / MPII images have no stated licence (data/embedded/SOURCES.md).
"""
from __future__ import annotations


def restricted_licences(data: dict) -> set:
    """Ids of the licences of a COCO-format mapping that forbid derivatives (NoDerivs) or
    commercial use (NonCommercial): images under them stay out of published figures."""
    return {lic.get("id") for lic in data.get("licenses", []) if isinstance(lic, dict)
            and ("NoDeriv" in lic.get("name", "") or "NonCommercial" in lic.get("name", ""))}
