"""The table builder: Markdown rows for the page and the numbers behind them for the CSV.

A `Table` holds one row of strings per label (cells formatted by `formatting.fmt_estimate`) and one
long-format record per cell (value, ci_low, ci_high (the t-interval), n, p_value, p_sign,
mde, note). `write_table` writes a
table's Markdown and CSV (numbers with 6 significant digits) side by side.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pandas as pd

from .formatting import UNDEFINED, fmt_estimate, fmt_number, fmt_p
from .stats import Estimate


def _fmt_value(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return UNDEFINED
    return f"{v:.1f}" if isinstance(v, (int, float)) else str(v)


class Table:
    """Rows of strings for Markdown plus the numbers behind them for the CSV (long format:
    one line per cell with value, ci_low, ci_high, n, p_value and a note)."""

    def __init__(self, name: str, columns: Sequence[str], first: str = "Method"):
        self.name, self.columns, self.first = name, list(columns), first
        self.rows: list[list[str]] = []
        self.records: list[dict] = []

    def add(self, label: str, source: str, cells: Mapping[str, object], n_text: str = "",
            digits: int = 1, signed: bool | Collection[str] = False,
            extra: Mapping[str, str] | None = None) -> None:
        """cells: column -> Estimate | None | number | str. Missing columns are '—'. `signed`:
        '+' before positive estimates in every column (True) or in the columns it names."""
        row = [label]
        for col in self.columns:
            if extra and col in extra:
                row.append(extra[col])
                self.records.append(self._record(label, source, col, text=extra[col]))
                continue
            v = cells.get(col, None)
            if isinstance(v, Estimate) or v is None:
                row.append(fmt_estimate(v, digits, signed if isinstance(signed, bool)
                                        else col in signed))
                self.records.append(self._record(label, source, col, v))
            else:
                row.append(_fmt_value(v))
                self.records.append(self._record(label, source, col, v if isinstance(
                    v, (int, float)) else None, text=None if isinstance(v, (int, float)) else v))
        row.append(n_text)
        self.rows.append(row)
        for rec, text in zip(self.records[-len(self.columns):], row[1:]):
            rec["text"] = text

    def add_p(self, label: str, diffs: Mapping[str, Estimate | None]) -> None:
        """Three rows under a difference row: the paired t-test p, the exact sign-flip p
        (n ≤ 10) and the minimum detectable effect (80 % power, α = 0.05) of each column."""
        rows = ((", paired t-test p", "paired t-test", fmt_p),
                (", sign-flip p", "sign-flip test", _fmt_p_sign),
                (", MDE (80 % power)", "minimum detectable effect",
                 lambda e: fmt_number(e.mde, 1) if e and math.isfinite(e.mde) else "n/a"))
        for suffix, source, fmt in rows:
            row = [label + suffix] + [fmt(diffs.get(c)) if c in diffs else ""
                                      for c in self.columns] + [""]
            self.rows.append(row)
            for c in self.columns:
                if c in diffs:
                    e = diffs[c]
                    rec = self._record(label + suffix, source, c)
                    rec.update(n=e.n if e else 0, note="" if e else "no run", text=fmt(e),
                               p_value=e.p if e and math.isfinite(e.p) and source == "paired t-test" else None,
                               p_sign=e.p_sign if e and math.isfinite(e.p_sign) else None,
                               mde=e.mde if e and math.isfinite(e.mde) else None)
                    self.records.append(rec)

    def _record(self, label, source, col, v=None, text=None) -> dict:
        rec = {"table": self.name, "row": label, "source": source, "metric": col, "text": "",
               "value": None,
               "ci_low": None, "ci_high": None, "n": None, "p_value": None, "p_sign": None,
               "mde": None, "note": ""}
        if isinstance(v, Estimate):
            ok = math.isfinite(v.mean) and v.n > 0
            rec.update(value=v.mean if ok else None, ci_low=v.lo if v.has_ci else None,
                       ci_high=v.hi if v.has_ci else None, n=v.n,
                       p_value=v.p if math.isfinite(v.p) else None,
                       p_sign=v.p_sign if math.isfinite(v.p_sign) else None,
                       mde=v.mde if math.isfinite(v.mde) else None,
                       note="" if ok else "undefined")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            ok = math.isfinite(v)
            rec.update(value=float(v) if ok else None, note="" if ok else "undefined")
        elif text is not None:
            pass                                  # a text cell (Params, GFLOPs, ...): no number
        else:
            rec["note"] = "no run"
        return rec

    def markdown(self) -> str:
        head = [self.first] + self.columns + ["n"]
        rule = "|" + "|".join(["---"] + [":-:"] * (len(head) - 1)) + "|"
        lines = ["| " + " | ".join(head) + " |", rule]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.records, columns=[
            "table", "row", "source", "metric", "text", "value", "ci_low", "ci_high", "n",
            "p_value", "p_sign", "mde", "note"])


def _fmt_p_sign(e: Estimate | None) -> str:
    if e is None or e.n < 2:
        return "n = 1, no test" if e else ""
    if not math.isfinite(e.p_sign):
        return "n/a"
    return "<0.001" if e.p_sign < 0.001 else f"{e.p_sign:.3f}"


def write_table(folder: Path, stem: str, md: str, frame: pd.DataFrame) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = folder / f"{stem}.md", folder / f"{stem}.csv"
    md_path.write_text(md)
    frame.to_csv(csv_path, index=False, float_format="%.6g")
    return [md_path, csv_path]
