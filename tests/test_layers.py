"""The layering of framework/ and contrib_src/, read from the source with ``ast`` (nothing is imported).

Every ``import`` and ``from ... import`` counts, wherever it is: module level, inside functions,
under ``if TYPE_CHECKING:`` or ``try:``; relative imports are resolved against the importing
module's package, and ``importlib.import_module("literal")`` / ``__import__("literal")`` count too.
An import names the most specific module of ours it reaches: ``from modelhub.errors import
ConfigError`` is an edge to ``modelhub.errors``, ``from modelhub import runtime`` one to
``modelhub.runtime``.  Importing ``a.b`` runs ``a/__init__.py`` first, so it is an edge to the
package ``a`` as well, unless the importer lies inside ``a`` (then ``a`` started running before it).

Checks: no import cycle among framework modules; the engine (``modelhub``) imports no web
framework, server or other package of ours; ``modelhublib`` no web framework, server or engine-side
package; the contributor package (``contrib_src``) only ``modelhublib`` of ours; no framework module
longer than ``MAX_LINES``.

    python tests/test_layers.py    # the layout as a tree (lines, packages imported) and every check
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK = REPO_ROOT / "framework"
CONTRIB = REPO_ROOT / "contrib_src"
MAX_LINES = 260
ENGINE = "modelhub"
LIBRARY = "modelhublib"
WEB = ("flask", "werkzeug", "gunicorn")
# Our packages, including those that may appear later; whatever else framework/ holds is added.
KNOWN_OWN = ("modelhub", "modelhubapi", "modelhublib", "modelhubserve")
FORBIDDEN = {
    ENGINE: (*WEB, "modelhubapi", "modelhubserve", "modelhublib"),
    LIBRARY: (*WEB, "modelhubapi", "modelhubserve"),
}
CONTRIB_ALLOWED_OWN = ("modelhublib",)
SKIP_DIRS = {"__pycache__", "build", "dist"}


@dataclass
class Import:
    """One import statement's target: the absolute module name, and the names taken from it."""

    line: int
    module: str  # absolute dotted name (relative imports resolved)
    names: tuple[str, ...] = ()  # ``from module import names`` (empty for ``import module``)


@dataclass
class Module:
    name: str  # dotted name as Python would import it (contrib_src modules: top-level names)
    path: Path
    lines: int
    is_package: bool
    shown: str  # the path as printed: framework/modelhub/host.py
    imports: list[Import] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # relative imports that cannot be resolved

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") or part.startswith(".") for part in parts):
            continue
        yield path


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _literal_import_call(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
        return first.value
    return None


def _parse(root: Path, path: Path) -> Module:
    text = path.read_text(encoding="utf-8")
    name, is_package = _module_name(root, path)
    shown = f"{root.name}/{path.relative_to(root).as_posix()}"
    module = Module(name, path, len(text.splitlines()), is_package, shown)
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Import):
            module.imports.extend(Import(node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            if node.level == 0:
                if node.module and node.module != "__future__":
                    module.imports.append(Import(node.lineno, node.module, names))
                continue
            base = module.package.split(".") if module.package else []
            if node.level - 1 >= len(base):
                module.problems.append(f"{shown}:{node.lineno}: relative import beyond the top-level package")
                continue
            parts = base[: len(base) - (node.level - 1)]
            if node.module:
                parts.append(node.module)
            module.imports.append(Import(node.lineno, ".".join(parts), names))
        elif isinstance(node, ast.Call):
            target = _literal_import_call(node)
            if target:
                module.imports.append(Import(node.lineno, target))
    module.imports.sort(key=lambda item: item.line)
    return module


def scan(root: Path) -> dict[str, Module]:
    """Every module under ``root`` (a folder on sys.path), by dotted name."""
    if not root.is_dir():
        return {}
    return {module.name: module for module in (_parse(root, path) for path in _python_files(root))}


@cache
def framework_modules() -> dict[str, Module]:
    return scan(FRAMEWORK)


@cache
def contrib_modules() -> dict[str, Module]:
    """contrib_src/ is on sys.path when the server loads it: its modules have top-level names."""
    return scan(CONTRIB)


def packages(modules: dict[str, Module]) -> list[str]:
    """Top-level packages (and modules), e.g. modelhub, modelhubapi, modelhublib."""
    return sorted({module.top for module in modules.values()})


def own_packages(framework: dict[str, Module]) -> set[str]:
    return set(KNOWN_OWN) | set(packages(framework))


def resolve(item: Import, known: Iterable[str]) -> set[str]:
    """The most specific modules in ``known`` that the import reaches (empty: none of ours).

    ``from pkg import a, b`` reaches ``pkg.a`` and ``pkg.b`` where those are modules, else ``pkg`` itself.
    """
    known = set(known)
    candidates = [f"{item.module}.{name}" for name in item.names if name != "*"] or [item.module]
    found = set()
    for candidate in candidates:
        parts = candidate.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts:
            found.add(".".join(parts))
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:depth]) for depth in range(1, len(parts))]


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Module -> framework modules it imports, self-imports left out.

    Importing ``a.b.c`` first runs ``a/__init__.py`` and ``a/b/__init__.py``: those packages are edges
    too, except the importer's own enclosing packages, which have started running before it.
    """
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, module in modules.items():
        enclosing = {name, *_ancestors(name)}
        for item in module.imports:
            for target in resolve(item, modules):
                graph[name].update({target, *_ancestors(target)} & modules.keys() - enclosing)
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def find_cycles(graph: dict[str, set[str]], limit: int = 200) -> tuple[list[list[str]], bool]:
    """Elementary cycles, each once (from its smallest module), shortest first; and whether ``limit`` cut them."""
    cycles: list[list[str]] = []
    for component in _strongly_connected(graph):
        members = set(component)
        for start in component:  # sorted: cycles through smaller modules were found already
            allowed = {m for m in members if m >= start}
            path = [start]
            work = [iter(sorted(graph[start] & allowed))]
            while work:
                child = next(work[-1], None)
                if child is None:
                    work.pop()
                    path.pop()
                elif child == start:
                    cycles.append([*path, start])
                    if len(cycles) > limit:
                        return sorted(cycles[:limit], key=lambda cycle: (len(cycle), cycle)), True
                elif child not in path:
                    path.append(child)
                    work.append(iter(sorted(graph[child] & allowed)))
    return sorted(cycles, key=lambda cycle: (len(cycle), cycle)), False


def _import_lines(module: Module, tops: Iterable[str]) -> list[str]:
    """``file:line: imports X`` for each import of ``module`` whose top-level package is in ``tops``."""
    tops = set(tops)
    found = []
    for item in module.imports:
        top = item.module.split(".")[0]
        if top in tops:
            what = item.module + (f" ({', '.join(item.names)})" if item.names else "")
            found.append(f"{module.shown}:{item.line}: {module.name} imports {what}")
    return found


def forbidden_imports(modules: dict[str, Module], package: str) -> list[str]:
    found: list[str] = []
    for module in modules.values():
        if module.top == package:
            found.extend(_import_lines(module, FORBIDDEN[package]))
    return found


def contrib_violations(contrib: dict[str, Module], framework: dict[str, Module]) -> list[str]:
    """Imports of our packages other than modelhublib (sibling modules of contrib_src are fine)."""
    siblings = set(packages(contrib))
    banned = own_packages(framework) - set(CONTRIB_ALLOWED_OWN) - siblings
    found: list[str] = []
    for module in contrib.values():
        found.extend(_import_lines(module, banned))
        found.extend(module.problems)
    return found


def long_modules(modules: dict[str, Module]) -> list[str]:
    return [
        f"{module.shown}: {module.lines} lines (at most {MAX_LINES})"
        for module in modules.values()
        if module.lines > MAX_LINES
    ]


def cycle_chains(modules: dict[str, Module]) -> list[str]:
    cycles, cut = find_cycles(import_graph(modules))
    return [" -> ".join(cycle) for cycle in cycles] + ([f"... (only the first {len(cycles)} shown)"] if cut else [])


TITLES = {
    1: "1. no import cycle among framework modules",
    2: f"2. {ENGINE} imports none of {', '.join(FORBIDDEN[ENGINE])}",
    3: f"3. {LIBRARY} imports none of {', '.join(FORBIDDEN[LIBRARY])}",
    4: "4. contrib_src imports, of our packages, only modelhublib",
    5: f"5. no framework module longer than {MAX_LINES} lines",
}


def checks() -> list[tuple[str, list[str]]]:
    """(check, violations) of every check on this checkout."""
    framework, contrib = framework_modules(), contrib_modules()
    found = {
        1: cycle_chains(framework),
        2: forbidden_imports(framework, ENGINE),
        3: forbidden_imports(framework, LIBRARY),
        4: contrib_violations(contrib, framework),
        5: long_modules(framework),
    }
    return [(TITLES[number], found[number]) for number in TITLES]


def _require_none(title: str, violations: list[str]) -> None:
    __tracebackhide__ = True  # pytest: show the message, not this helper
    if violations:
        raise AssertionError(f"{title}: {len(violations)} violation(s)\n  " + "\n  ".join(violations))


def test_modules_are_found() -> None:
    framework, contrib = framework_modules(), contrib_modules()
    assert {ENGINE, LIBRARY, "modelhubapi"} <= set(packages(framework)), packages(framework)
    assert "processing" in contrib, sorted(contrib)
    problems = [problem for module in [*framework.values(), *contrib.values()] for problem in module.problems]
    _require_none("every relative import resolves", problems)


def test_no_import_cycles_among_framework_modules() -> None:
    _require_none(TITLES[1], cycle_chains(framework_modules()))


def test_engine_imports_no_web_framework_server_or_other_package() -> None:
    _require_none(TITLES[2], forbidden_imports(framework_modules(), ENGINE))


def test_modelhublib_imports_no_web_framework_server_or_api() -> None:
    _require_none(TITLES[3], forbidden_imports(framework_modules(), LIBRARY))


def test_contrib_src_imports_only_modelhublib_of_ours() -> None:
    _require_none(TITLES[4], contrib_violations(contrib_modules(), framework_modules()))


def test_framework_modules_are_short() -> None:
    _require_none(TITLES[5], long_modules(framework_modules()))


def test_the_checker_on_a_made_up_tree(tmp_path: Path) -> None:
    """Relative imports, imports inside functions, package __init__ edges and cycles, on a small tree."""
    files = {
        "framework/modelhub/__init__.py": "",
        "framework/modelhub/a.py": "def f():\n    from .sub import b\n",
        "framework/modelhub/sub/__init__.py": "from . import b\n",
        "framework/modelhub/sub/b.py": "from ..c import X\nimport flask\n",
        "framework/modelhub/c.py": "import importlib\nimportlib.import_module('modelhub.a')\n",
        "framework/modelhubserve/__init__.py": "from modelhub import a\n",
        "framework/modelhubserve/d.py": "from modelhubapi.e import Y\n",
        "framework/modelhubapi/__init__.py": "from .e import Y\n",
        "framework/modelhubapi/e.py": "from modelhubserve.d import Z\n",
        "contrib_src/inference.py": "import processing\nfrom modelhubserve import d\nfrom modelhublib.m import M\n",
        "contrib_src/processing.py": "from .x import y\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    framework, contrib = scan(tmp_path / "framework"), scan(tmp_path / "contrib_src")
    assert framework["modelhub.sub.b"].imports[0].module == "modelhub.c"
    graph = import_graph(framework)
    assert graph["modelhub.a"] == {"modelhub.sub", "modelhub.sub.b"}  # the package's __init__ runs first
    assert graph["modelhub.sub"] == {"modelhub.sub.b"}
    assert graph["modelhubserve"] == {"modelhub", "modelhub.a"}
    assert cycle_chains(framework) == [
        "modelhubapi.e -> modelhubserve.d -> modelhubapi.e",
        "modelhub.a -> modelhub.sub.b -> modelhub.c -> modelhub.a",
        "modelhubapi -> modelhubapi.e -> modelhubserve.d -> modelhubapi",
        "modelhub.a -> modelhub.sub -> modelhub.sub.b -> modelhub.c -> modelhub.a",
    ]
    assert [line.split(": ", 1)[1] for line in forbidden_imports(framework, ENGINE)] == ["modelhub.sub.b imports flask"]
    assert [line.split(": ", 1)[1] for line in contrib_violations(contrib, framework)] == [
        "inference imports modelhubserve (d)",
        "relative import beyond the top-level package",
    ]


def _tree_lines(root: Path, modules: dict[str, Module], watched: set[str]) -> list[str]:
    """One line per module under ``root``, indented by folder: lines, packages of ours, watched third-party."""
    lines = [f"{root.relative_to(REPO_ROOT).as_posix()}/"]
    shown: set[tuple[str, ...]] = set()
    width = max((len(m.path.relative_to(root).parts) * 2 + len(m.path.name) for m in modules.values()), default=0)
    ours = own_packages(framework_modules())
    for module in sorted(modules.values(), key=lambda m: m.path.relative_to(root).parts):
        parts = module.path.relative_to(root).parts
        for depth in range(1, len(parts)):
            folder = parts[:depth]
            if folder not in shown:
                shown.add(folder)
                lines.append("  " * depth + folder[-1] + "/")
        tops = {item.module.split(".")[0] for item in module.imports}
        imported = sorted(tops & ours)
        third = sorted(tops & watched)
        label = "  " * len(parts) + parts[-1]
        mark = "  !" if root == FRAMEWORK and module.lines > MAX_LINES else ""
        text = f"{label:<{width + 2}} {module.lines:>4}  " + (", ".join(imported) or "-")
        if third:
            text += "  | " + ", ".join(third)
        lines.append(text + mark)
    return lines


def report() -> tuple[list[str], bool]:
    """The layout tree and the result of every check, as printable lines; and whether all checks pass."""
    framework, contrib = framework_modules(), contrib_modules()
    watched = set(WEB)
    lines = [f"module, lines, packages of ours it imports | {', '.join(WEB)}  (! longer than {MAX_LINES} lines)", ""]
    lines += _tree_lines(FRAMEWORK, framework, watched)
    lines += _tree_lines(CONTRIB, contrib, watched)
    total = sum(m.lines for m in framework.values())
    lines.append(f"\n{len(framework)} framework modules, {total} lines; packages: " + ", ".join(packages(framework)))
    passed = True
    for title, violations in checks():
        found = f": {len(violations)} found" if violations else ""
        lines.append(f"\n[{' ' if violations else 'x'}] {title}{found}")
        lines.extend(f"    {violation}" for violation in violations)
        passed = passed and not violations
    return lines, passed


if __name__ == "__main__":
    output, ok = report()
    print("\n".join(output))
    sys.exit(0 if ok else 1)
