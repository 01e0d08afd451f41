"""core/markdown.py: the one builder of the package's Markdown tables."""
from pathlib import Path

import pytest

from effmnist_utils.core.markdown import Markdown, table

PACKAGE = Path(__file__).resolve().parents[1] / "effmnist_utils"


def test_a_table_is_its_header_its_rule_and_one_line_per_row():
    assert table(["model", "params", "note"], "lrl", [["f8a", "7,964", "chosen"], ["t1e", 990, ""]]) == (
        "| model | params | note |\n"
        "|---|---:|---|\n"
        "| f8a | 7,964 | chosen |\n"
        "| t1e | 990 |  |")


def test_a_table_without_rows_is_its_header_and_rule():
    assert table(["a"], "r", []) == "| a |\n|---:|"


@pytest.mark.parametrize("aligns", ["l", "lrr", "lc"])
def test_aligns_name_each_column_left_or_right(aligns):
    with pytest.raises(ValueError, match="aligns"):
        table(["a", "b"], aligns, [])


def test_a_row_of_the_wrong_width_is_refused():
    """A row that would shift its cells under the wrong column names fails loudly."""
    with pytest.raises(ValueError, match="a row of 3 cells in a table of 2 columns"):
        table(["a", "b"], "ll", [["1", "2", "3"]])


def test_markdown_shows_rendered_in_a_notebook_and_as_text_elsewhere():
    text = Markdown(table(["a"], "l", [["1"]]))
    assert text._repr_markdown_() == str(text) == "| a |\n|---|\n| 1 |"


def hand_made_rules(root: Path = PACKAGE) -> list[str]:
    """`path:line` of every table rule (`|---`) written outside core/markdown.py."""
    return [f"{p.relative_to(root)}:{i}" for p in sorted(root.rglob("*.py")) if p.name != "markdown.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if "|---" in line]


def test_every_table_is_built_by_the_one_helper(tmp_path):
    """No module writes a table's rule by hand; the check finds one that does."""
    assert hand_made_rules() == []
    (tmp_path / "m.py").write_text('lines = ["| a | b |", "|---|---:|"]\n')
    assert hand_made_rules(tmp_path) == ["m.py:1"]
