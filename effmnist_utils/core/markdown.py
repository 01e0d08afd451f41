"""Markdown tables, the one way the package writes them (the README's and docs' generated blocks, the
plans' tables, the lessons'), and `Markdown`, the text that a notebook shows rendered."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

RULES = {"l": "---", "r": "---:"}  # a column's alignment letter -> its cell in the rule under the header


class Markdown(str):
    """Markdown that a notebook shows rendered (and `print` shows as text)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def table(header: Sequence[str], aligns: str, rows: Iterable[Sequence]) -> str:
    """A Markdown table: the `header`'s column names, then one line per row of cells (each written
    with `str`). `aligns` has one letter per column, "l" left-aligned or "r" right-aligned. A row
    with more or fewer cells than the header has columns is refused."""
    if len(aligns) != len(header) or set(aligns) - set(RULES):
        raise ValueError(f"aligns {aligns!r}: one letter per column of {list(header)}, each 'l' or 'r'")
    lines = [_row(header), "|" + "|".join(RULES[a] for a in aligns) + "|"]
    for cells in rows:
        if len(cells) != len(header):
            raise ValueError(f"a row of {len(cells)} cells in a table of {len(header)} columns: {list(cells)}")
        lines.append(_row(cells))
    return "\n".join(lines)


def _row(cells: Sequence) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"
