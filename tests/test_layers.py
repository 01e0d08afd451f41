"""The package's layers: core imports only core; studies and use import core (and themselves);
use never imports studies; nothing imports the top (the command line and `report`); no module
imports itself back through others. Every import counts, function-level ones included, and so
does the `__init__` of each package an import runs first."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "effmnist_utils"
# the folders, and "top" for the modules beside them (__init__, the command line, report)
ALLOWED = {"core": {"core"}, "studies": {"core", "studies"}, "use": {"core", "use"},
           "top": {"core", "studies", "use", "top"}}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else "top"


def imports(path: Path, known: set[str], root: Path = PACKAGE) -> set[str]:
    """The package's modules that `path` imports anywhere in its body, as Python runs them: a
    name taken from a package runs its `__init__` (a submodule taken from it does not need it),
    and a module in another package runs that package's `__init__` first."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = {f"{base}.{a.name}" for a in node.names}
            found |= names | ({base} if names - known else set())
    # the packages above each import that `here` does not sit in already (those are running)
    found |= {p for m in found for p in ancestors(m) if p not in ancestors(here)}
    return {m for m in found if m in known and m != here}


def ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    return {m: imports(p, set(paths), root) for m, p in paths.items()}


CLI = {"effmnist_utils.__main__", "effmnist_utils.cli"}  # imported by none but each other


def breaks(g: dict[str, set[str]]) -> list[str]:
    """Imports that go against the layer rule."""
    out = []
    for m, targets in g.items():
        for t in targets:
            if layer(t) not in ALLOWED[layer(m)] or (t in CLI and m not in CLI):
                out.append(f"{m} ({layer(m)}) imports {t} ({layer(t)})")
    return sorted(out)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every module that can reach itself, with one path that shows how (package __init__s,
    which import their own children, left aside)."""
    found = []
    for start in g:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in g.get(node, ()):
                if nxt == start:
                    found.append(path + [nxt])
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_every_import_keeps_to_its_layer():
    assert breaks(graph()) == []


def test_no_module_reaches_itself():
    assert cycles(graph()) == []


def test_a_breaking_import_and_a_cycle_are_caught(tmp_path):
    """The checks above can go red: a core module that imports a study, and two modules that
    import each other (at function level), are both found."""
    pkg = tmp_path / "effmnist_utils"
    for d in ("core", "studies"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("def f():\n    from ..studies import b\n")
    (pkg / "studies" / "b.py").write_text("from ..core.a import f\n")
    g = graph(pkg)
    assert "effmnist_utils.core.a (core) imports effmnist_utils.studies.b (studies)" in breaks(g)
    assert ["effmnist_utils.core.a", "effmnist_utils.studies.b", "effmnist_utils.core.a"] in cycles(g)


def test_a_registry_circle_is_caught(tmp_path):
    """A package's `__init__` that imports its children, and a child that takes a name from that
    `__init__` (or imports a module that does, here through a sibling package's module), close a
    circle; a child that takes its shared names from a sibling module (`base`) does not."""
    pkg = tmp_path / "effmnist_utils"
    reg, other = pkg / "studies" / "reg", pkg / "studies" / "other"
    for d in (pkg, pkg / "studies", reg, other):
        d.mkdir(parents=True, exist_ok=True)
        (d / "__init__.py").write_text("")
    (reg / "__init__.py").write_text("from . import child\nfrom .base import Shared\n")
    (reg / "base.py").write_text("class Shared: ...\n")
    (reg / "child.py").write_text("from .base import Shared\n")
    (other / "user.py").write_text("")
    assert cycles(graph(pkg)) == []
    (reg / "child.py").write_text("from . import Shared\n")  # the name from the registry itself
    assert ["effmnist_utils.studies.reg.child", "effmnist_utils.studies.reg",
            "effmnist_utils.studies.reg.child"] in cycles(graph(pkg))
    (reg / "child.py").write_text("from ..other.user import x\n")
    (other / "user.py").write_text("from ..reg.base import Shared\n")  # runs reg's __init__ first
    assert ["effmnist_utils.studies.other.user", "effmnist_utils.studies.reg",
            "effmnist_utils.studies.reg.child", "effmnist_utils.studies.other.user"] in cycles(graph(pkg))


@pytest.mark.slow
def test_importing_the_package_loads_the_core_only():
    """`import effmnist_utils` (what a notebook does) loads no study or app module."""
    code = ("import sys, effmnist_utils; print('\\n'.join(m for m in sys.modules "
            "if m.startswith('effmnist_utils')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "effmnist_utils.core.loop" in loaded
    assert [m for m in loaded if layer(m) not in ("core", "top") or m.endswith(("__main__", "cli", "report"))] == []


GUIDE_LINES, SAY_WHY_LINES, MAX_LINES = 250, 300, 400  # a module's length: the guide, the "say why" mark, the cap


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_a_long_module_says_why(path):
    """About GUIDE_LINES is a guide, not a reason to split a concern: a module over SAY_WHY_LINES
    says in its opening comment why it is long (the word "long" there), and none passes MAX_LINES."""
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_LINES
    if len(lines) > SAY_WHY_LINES:
        opening = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "long" in opening.lower(), f"{path.name}: {len(lines)} lines, and its docstring does not say why"


def private_imports(root: Path = PACKAGE) -> list[str]:
    """`module: name` for every private name (`_x`) a module imports from another of the package."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(root.name)):
                found += [f"{module_name(path, root)}: {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_imports_another_modules_private_name(tmp_path):
    """A private name stays inside its module; one that another module needs is public. The check
    catches a planted one."""
    assert private_imports() == []
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("def _helper():\n    return 1\n")
    (pkg / "b.py").write_text("from .a import _helper\n")
    assert private_imports(pkg) == ["pkg.b: _helper"]


REASONS = ("# circle:", "# heavy/optional:")  # why an import stays inside a function (issue 39)


def unexplained_inner_imports(root: Path = PACKAGE) -> list[str]:
    """`module:line` for every import inside a function that gives no reason for staying there: a
    comment `# circle: X imports this module` or `# heavy/optional: ...` on its line, or on the line
    above it or above the run of imports it belongs to. Every other import sits at the module's top."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset > 0:
                i = node.lineno - 1
                while i > 0 and not any(r in lines[i] for r in REASONS) and \
                        lines[i - 1].strip().startswith(("import ", "from ")):
                    i -= 1  # up the run of imports to its first line
                if not any(r in line for line in lines[max(0, i - 1):node.lineno] for r in REASONS):
                    found.append(f"{module_name(path, root)}:{node.lineno}")
    return found


def test_an_import_inside_a_function_says_why(tmp_path):
    """Imports sit at the top of their module unless they would close a circle or load a heavy or
    optional package that the module's main use does not need; those say so. The check catches an
    unexplained one and accepts one comment above a run of imports."""
    assert unexplained_inner_imports() == []
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    import json\n\n\ndef g():\n    # heavy/optional: why\n"
                              "    import onnx\n    from onnx import helper\n")
    assert unexplained_inner_imports(pkg) == ["pkg.a:2"]
