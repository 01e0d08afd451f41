"""pytest setup shared by the unit tests and nbval's notebook runs."""
import os

import nbval.plugin as _nbval

# Notebooks run in their smoke mode under pytest: 1 epoch on 2,000 images (see each notebook).
os.environ.setdefault("EFFMNIST_FAST", "1")

_compare_streams = _nbval.transform_streams_for_comparison


def _without_stderr(outputs):
    """nbval compares stderr too; a library warning there is not a regression, so drop it.
    stdout and rich outputs of cells tagged `nbval-check-output` are still compared."""
    return _compare_streams([o for o in outputs
                             if not (o.get("output_type") == "stream" and o.get("name") == "stderr")])


_nbval.transform_streams_for_comparison = _without_stderr


def pytest_collection_modifyitems(config, items):
    """Every notebook item nbval collects re-executes a notebook: mark it slow, so that
    `-m "not slow"` is the fast selection."""
    import pytest

    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
