"""The package's structure: layers, no import cycles, module size, docstrings, names in strings that resolve.

The import graph is read from the source (every ``import`` statement, at module
level or inside a function), so a lazy import counts like any other.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("neurocontrol", "plants")
MAX_LINES = 800

#: Layer of each module (a prefix match; the longest prefix wins). A module may import its own layer or lower ones.
LAYERS = {
    "neurocontrol.exceptions": 0,
    "neurocontrol._validation": 0,
    "neurocontrol._files": 0,
    "neurocontrol._jit": 0,
    "neurocontrol._compile": 0,
    "neurocontrol._timing": 0,
    "neurocontrol.registry": 0,
    "plants": 1,
    "neurocontrol.reference": 2,
    "neurocontrol.reference_model": 2,
    "neurocontrol.results": 2,
    "neurocontrol.plotting": 2,
    "neurocontrol.io": 2,
    "neurocontrol.checkpoint": 2,
    "neurocontrol.nets": 3,
    "neurocontrol.controllers": 4,
    "neurocontrol.simulation": 5,
    "neurocontrol.ilc": 6,
    "neurocontrol.control_bridge": 6,
    "neurocontrol.gym_wrappers": 6,
    "neurocontrol.scenario": 7,
    "neurocontrol.experiments": 8,
    "neurocontrol.cli": 9,
    "neurocontrol.__main__": 9,
    "neurocontrol": 9,          # the package face: lazy names only
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import of ``name`` loads (the name itself, or its package), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for n in names:
            target = _resolve(n)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


#: Plant-specific glue (a plant's scenario kinds and its baseline controllers) sits with the scenario layer.
_PLANT_GLUE = re.compile(r"^plants\.\w+\.(kinds|baselines)$")


def _layer(module: str) -> int:
    if _PLANT_GLUE.match(module):
        return LAYERS["neurocontrol.scenario"]
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_a_higher_layer():
    upward = [(m, t) for m, ts in GRAPH.items() for t in ts if _layer(t) > _layer(m) and not t.startswith(m + ".")]
    assert upward == []


def test_generic_modules_name_no_plant():
    """Plant-specific code lives with its plant; the rest of the package reads what plants declare."""
    offenders = []
    for module, path in MODULES.items():
        if not module.startswith("neurocontrol") or module == "neurocontrol.registry":
            continue        # the registry lists the built-in kinds, the helicopter's among them, as strings
        text = path.read_text()
        for pattern in (r"\bimport plants\.helicopter", r"\bfrom plants\.helicopter", r"HelicopterEnv\b"):
            if re.search(pattern, text):
                offenders.append((module, pattern))
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size_and_docstring(module):
    path = MODULES[module]
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc, f"{path.relative_to(ROOT)} has no module docstring"
    first = doc.splitlines()[0]
    assert len(first) > 20 and first.endswith("."), f"{path.relative_to(ROOT)}: first docstring line {first!r}"


def test_no_mid_file_imports_are_excused():
    hits = [str(p.relative_to(ROOT)) for p in MODULES.values() if "noqa: E402" in p.read_text()]
    assert hits == []


# --------------------------------------------------------------------------- names in strings

_DOTTED = re.compile(r"(?<![\w./-])((?:neurocontrol|plants)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?::([A-Za-z_][A-Za-z0-9_]*))?(?![-\w/])")


_FILE_ENDINGS = {"md", "py", "toml", "json", "png", "csv", "npz"}


def _text_files():
    # CHANGELOG.md names the old module paths on purpose
    for pattern in ("neurocontrol/**/*.py", "plants/**/*.py", "tests/*.py", "examples/*.py", "benchmarks/*.py",
                    "docs/*.md", "docs/*.py", "*.md", "scenarios/*.toml", "pyproject.toml"):
        yield from (p for p in sorted(ROOT.glob(pattern)) if p.name != "CHANGELOG.md")


def _named() -> dict[str, str]:
    names = {}
    for path in _text_files():
        for match in _DOTTED.finditer(path.read_text()):
            dotted, attr = match.group(1), match.group(2)
            name = dotted + (":" + attr if attr else "")
            names.setdefault(name.rstrip("."), str(path.relative_to(ROOT)))
    return names


def _lookup(name: str):
    """Import the longest importable module prefix of ``name`` and get the rest as attributes."""
    dotted, _, attr = name.partition(":")
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError as exc:
            if exc.name != ".".join(parts[:k]) and not ".".join(parts[:k]).startswith(exc.name or "\0"):
                raise
            continue
        for p in parts[k:] + ([attr] if attr else []):
            obj = getattr(obj, p)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_module_or_object_named_in_a_string_exists():
    """Module paths in code, docs and scenario files (plugin lists, docs references, registry entries) resolve."""
    missing = []
    for name, where in sorted(_named().items()):
        if "__main__" in name or name.rsplit(".", 1)[-1] in _FILE_ENDINGS:
            continue        # running __main__ would start the command line; x.md, x.py are file names
        try:
            _lookup(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name} (in {where}): {type(exc).__name__}: {exc}")
    assert missing == [], "\n".join(missing)


# --------------------------------------------------------------------------- docstrings


def _public_callables():
    """Public functions, classes and methods of the public modules, with the names of their arguments."""
    import inspect

    seen = set()
    for module in sorted(MODULES):
        if any(p.startswith("_") for p in module.split(".")) or module.startswith("plants.helicopter.demo"):
            continue
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if obj is None or id(obj) in seen or getattr(obj, "__module__", module) != module:
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                targets = [(f"{module}.{name}", obj, obj.__init__ if "__init__" in vars(obj) else None)]
                for mname, member in vars(obj).items():
                    if not mname.startswith("_") and inspect.isfunction(member):
                        targets.append((f"{module}.{name}.{mname}", member, member))
            elif inspect.isfunction(obj):
                targets = [(f"{module}.{name}", obj, obj)]
            else:
                continue
            for label, holder, fn in targets:
                if fn is None:
                    continue
                try:
                    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
                except (TypeError, ValueError):
                    continue
                yield label, inspect.getdoc(holder) or "", params, inspect.isclass(holder)


def test_public_callables_with_arguments_document_them_in_a_parameters_section():
    # a class may document its constructor's arguments as Attributes (frozen result records)
    missing = [label for label, doc, params, is_class in _public_callables()
               if params and not re.search(r"^Parameters\n-{10}" + (r"|^Attributes\n-{10}" if is_class else ""), doc, re.M)]
    assert missing == [], f"{len(missing)} public callables without a Parameters section:\n" + "\n".join(missing)


def test_function_level_imports_of_the_package_say_why():
    """A project module imported inside a function needs a reason (start-up time, an import side effect) in a comment.

    The command line is the exception by design: every command imports what it needs (one comment in cli.py says so).
    """
    silent = []
    for module, path in MODULES.items():
        if module == "neurocontrol.cli":
            continue
        src = path.read_text().splitlines()
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if not any(n.split(".")[0] in PACKAGES for n in names):
                    continue
                context = src[max(0, node.lineno - 4):node.lineno]
                if not any("#" in line for line in context):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert silent == []
