"""Reading docs/architecture.md and checking what it says against the code, by AST alone.

Nothing of ``ml2p`` is imported: the source files are parsed, so a module
that needs boto3 or gunicorn is read like any other.

The page's conventions (what this module reads from the MyST source):

* a **reference** is an inline code span whose whole text is a dotted name
  starting ``ml2p.`` (``ml2p.serving.app``, ``ml2p.core.ModelPredictor.invoke``,
  optionally with ``()``); it must name a module, or something defined in one:
  a class, function or method, a module or class attribute, an attribute a
  method sets on ``self``, or a name the module imports (followed);
* a **call block** is a fenced ``{code-block} text`` with a ``:name:``: each
  line ``caller -> callee`` (after it, ``# ...`` is a comment) is a step.
  The caller is a full dotted name; a callee written without ``ml2p.`` is in
  the caller's module. The step holds when the caller's body uses the callee:
  calls it, or takes it to call later (a callback handed to a thread, a bound
  method kept in a local). See :func:`uses`;
* the **layer table** is the table whose first header cell is ``layer``: one
  row per layer, bottom first, the modules of a layer being the code spans of
  its second cell. A listed package covers its submodules (a longer listed
  name wins), except ``ml2p``, which names the package's ``__init__`` only.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOT = ROOT / "ml2p_core"
PAGE = ROOT / "docs" / "architecture.md"

_DOTTED = r"ml2p(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
_REFERENCE = re.compile(rf"^({_DOTTED})(?:\(\))?$")
#: Code spans that look like dotted names and are not: the configuration file, the
#: entry-point group of models.
NOT_NAMES = {"ml2p.yml", "ml2p.models"}
_MODULE_SPAN = re.compile(r"^ml2p(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_STEP = re.compile(r"^(\S+)\s+->\s+(\S+)$")


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A line ``caller -> callee`` of a call block (both names made full)."""

    block: str
    line: int
    caller: str
    callee: str

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee}"


@dataclass
class Page:
    """What a page says: its references, its call blocks, its layers (bottom first)."""

    references: list[tuple[int, str]] = field(default_factory=list)
    blocks: dict[str, list[Step]] = field(default_factory=dict)
    layers: list[tuple[str, list[str]]] = field(default_factory=list)
    #: The text of each call block, as written (without its options).
    texts: dict[str, str] = field(default_factory=dict)
    #: Lines that are in a call block but are not a step (reported by :func:`check_page`).
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_page(text: str) -> Page:
    """Read references, call blocks and the layer table from MyST source ``text``."""
    page = Page()
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            marker, info = fence.group(2), fence.group(3).strip()
            body: list[tuple[int, str]] = []
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker):
                body.append((index + 1, lines[index]))
                index += 1
            index += 1
            if info.split() == ["{code-block}", "text"]:
                _read_block(page, body)
            continue
        if line.lstrip().startswith("|") and index + 1 < len(lines):
            header = _cells(line)
            if header and header[0].lower() == "layer":
                index += 2  # the header and the |---| line
                while index < len(lines) and lines[index].lstrip().startswith("|"):
                    cells = _cells(lines[index])
                    spans = _CODE_SPAN.findall(cells[1]) if len(cells) > 1 else []
                    page.layers.append((cells[0], [s for s in spans if _MODULE_SPAN.match(s)]))
                    _read_references(page, index + 1, lines[index])
                    index += 1
                continue
        _read_references(page, index + 1, line)
        index += 1
    return page


def _read_references(page: Page, number: int, line: str) -> None:
    for span in _CODE_SPAN.findall(line):
        match = _REFERENCE.match(span.strip())
        if match and match.group(1) not in NOT_NAMES:
            page.references.append((number, match.group(1)))


def _read_block(page: Page, body: list[tuple[int, str]]) -> None:
    name = None
    steps: list[Step] = []
    text: list[str] = []
    for number, raw in body:
        line = raw.strip()
        if line.startswith(":") and not steps and not text:
            key, _, value = line[1:].partition(":")
            if key == "name":
                name = value.strip()
            continue
        text.append(raw)
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _STEP.match(line)
        if not match or not match.group(1).startswith("ml2p."):
            page.bad_lines.append((number, raw.strip()))
            continue
        caller, callee = match.groups()
        if not callee.startswith("ml2p."):
            callee = f"{module_of(caller) or caller.rsplit('.', 1)[0]}.{callee}"
        steps.append(Step(name or "", number, caller, callee))
    if name is not None:
        page.blocks[name] = steps
        page.texts[name] = "\n".join(text)


# ---------------------------------------------------------------------------
# The code, parsed
# ---------------------------------------------------------------------------


@cache
def modules() -> dict[str, Path]:
    """Every module of the ``ml2p`` package: dotted name -> source file."""
    found = {}
    for path in sorted((SOURCE_ROOT / "ml2p").rglob("*.py")):
        parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(modules()[module].read_text(encoding="utf-8"), str(modules()[module]))


def module_of(dotted: str) -> str | None:
    """The longest prefix of ``dotted`` that is a module, or ``None``."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in modules():
            return name
    return None


def _import_bindings(module: str, nodes: list[ast.stmt]) -> dict[str, str]:
    """Local name -> the dotted name it is bound to, for the imports in ``nodes``."""
    is_package = modules()[module].name == "__init__.py"
    bound = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    first = alias.name.split(".")[0]
                    bound[first] = first
        elif isinstance(node, ast.ImportFrom):
            source = _from_module(module, is_package, node)
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    return bound


def _from_module(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _statements(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
    """``nodes`` and the statements of their ``if``/``try`` blocks (not of functions or classes)."""
    for node in nodes:
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            for part in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(node, part, []))
            for handler in getattr(node, "handlers", []):
                yield from _statements(handler.body)


def _defined_names(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """Names a module or class body defines: classes, functions, assignments."""
    names: dict[str, ast.AST] = {}
    for node in _statements(body):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _self_attributes(cls: ast.ClassDef) -> dict[str, ast.AST]:
    """Attributes the methods of ``cls`` set on ``self``, each with its first assignment."""
    found: dict[str, ast.AST] = {}
    for node in ast.walk(cls):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                found.setdefault(target.attr, node)
    return found


def _bases(module: str, cls: ast.ClassDef) -> list[str]:
    """The dotted names of ``cls``'s bases that the module defines or imports from ML2P."""
    body = tree(module).body
    bound = {name: f"{module}.{name}" for name in _defined_names(body)}
    bound.update(_import_bindings(module, list(_statements(body))))
    found = []
    for base in cls.bases:
        parts = _chain(base)
        if parts and parts[0] in bound:
            dotted = ".".join([bound[parts[0]], *parts[1:]])
            if dotted.startswith("ml2p."):
                found.append(dotted)
    return found


@dataclass(frozen=True)
class Found:
    """Where a dotted name is defined: its module and the node (the module for a module)."""

    name: str
    module: str
    node: ast.AST
    #: The enclosing class, for a method, a class attribute or an attribute set on ``self``.
    cls: str | None = None


def locate(dotted: str, _seen: set[str] | None = None) -> tuple[Found | None, str]:
    """Find what ``dotted`` names in the source; return it, or ``None`` and why not."""
    module = module_of(dotted)
    if module is None:
        return None, "no such module"
    rest = dotted[len(module) + 1 :].split(".") if dotted != module else []
    node: ast.AST = tree(module)
    where = module
    cls: str | None = None
    for position, name in enumerate(rest):
        last = position == len(rest) - 1
        if isinstance(node, ast.Module):
            defined = _defined_names(node.body)
            if name not in defined:
                target = _import_bindings(module, list(_statements(node.body))).get(name)
                seen = _seen or set()
                if target and target.startswith("ml2p") and target not in seen:
                    # A name the module imports: follow it.
                    follow = ".".join([target, *rest[position + 1 :]])
                    return locate(follow, seen | {target})
                if position == 0 and modules()[module].name == "__init__.py":
                    return None, f"no module {where}.{name}, and {where} defines no {name!r}"
                return None, f"{where} defines no {name!r}"
            node, cls = defined[name], None
        elif isinstance(node, ast.ClassDef):
            defined = _defined_names(node.body)
            if name in defined:
                node, cls = defined[name], where
            elif last and name in _self_attributes(node):
                return Found(dotted, module, _self_attributes(node)[name], where), ""
            else:
                # Inherited: look in the bases that are ML2P's own classes.
                for base in _bases(module, node):
                    inherited, _ = locate(".".join([base, *rest[position:]]), _seen)
                    if inherited is not None:
                        return inherited, ""
                return None, f"{where} defines no {name!r}"
        else:
            return None, f"{where} is not a module or class: it has no {name!r}"
        where = f"{where}.{name}"
    return Found(dotted, module, node, cls), ""


def reference_problem(dotted: str) -> str | None:
    """``None`` if ``dotted`` names something in the code, else what is wrong."""
    found, why = locate(dotted)
    return None if found is not None else f"{dotted}: {why}"


# ---------------------------------------------------------------------------
# Calls: what a function, method or class body uses
# ---------------------------------------------------------------------------


def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; ``None`` if it is not names and attributes alone."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


@dataclass
class Uses:
    """What a body uses: fully resolved names, and attribute names on objects of unknown type."""

    resolved: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)


def uses_of(found: Found) -> Uses:
    """The names ``found``'s body uses (see :func:`uses`)."""
    module_body = tree(found.module).body
    bound = {name: f"{found.module}.{name}" for name in _defined_names(module_body)}
    bound.update(_import_bindings(found.module, list(_statements(module_body))))
    inner = [node for node in ast.walk(found.node) if isinstance(node, ast.stmt)]
    bound.update(_import_bindings(found.module, inner))
    own_class = found.name if isinstance(found.node, ast.ClassDef) else found.cls
    uses = Uses()
    for node in ast.walk(found.node):
        if not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (
                isinstance(owner, ast.Attribute)
                and owner.attr == "hook"
                and node.attr.startswith("ml2p_")
            ):
                # A hook call: <plugin manager>.hook.ml2p_<name>(...).
                uses.resolved.add(f"ml2p.hookspecs.{node.attr}")
        parts = _chain(node)
        if parts is None:
            if isinstance(node, ast.Attribute):
                uses.attributes.add(node.attr)
            continue
        first = parts[0]
        if first == "self" and own_class is not None:
            if len(parts) == 2:
                uses.resolved.add(f"{own_class}.{parts[1]}")
            elif len(parts) > 2:
                uses.attributes.add(parts[-1])
        elif first in bound:
            uses.resolved.add(".".join([bound[first], *parts[1:]]))
        elif len(parts) > 1:
            uses.attributes.add(parts[-1])
    return uses


def uses(caller: str, callee: str) -> str | None:
    """``None`` if ``caller``'s body uses ``callee``, else what is wrong.

    ``caller`` is a function, a method or a class (then any of its methods).
    Its body uses ``callee`` when it names it through what the module defines
    or imports (``lifecycle.setup``, ``PluginHost.for_env``, ``self._predict``
    in the callee's class, a class called to make an instance); calls the
    hook ``ml2p.hookspecs.ml2p_<name>`` as ``<manager>.hook.ml2p_<name>``;
    or, for a callee that is a method, takes an attribute of that name from
    an object whose type the source does not state (``predictor.invoke``,
    ``self._recorder.commit``, ``PluginHost.for_env(env).make_predictor``).
    """
    found, why = locate(caller)
    if found is None:
        return f"{caller}: {why}"
    target, why = locate(callee)
    if target is None:
        return f"{callee}: {why}"
    if not isinstance(found.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return f"{caller} is not a function, method or class"
    used = uses_of(found)
    names = {callee, target.name}
    if names & used.resolved or {_followed(name) for name in used.resolved} & names:
        return None
    if target.cls is not None and callee.rsplit(".", 1)[1] in used.attributes:
        return None
    return f"{caller} does not call {callee}"


@cache
def _followed(dotted: str) -> str:
    """``dotted`` with the imports on its way followed (``ml2p.serving.serve`` stays itself)."""
    found, _ = locate(dotted)
    return found.name if found is not None else dotted


# ---------------------------------------------------------------------------
# Imports between modules
# ---------------------------------------------------------------------------


def module_imports(module: str) -> dict[str, bool]:
    """The ``ml2p`` modules ``module`` imports -> whether when it is imported (else in functions).

    Imports under ``if TYPE_CHECKING:`` never run and are left out. ``from
    ml2p import lifecycle`` imports ``ml2p.lifecycle``; ``from ml2p import
    __version__`` imports ``ml2p``.
    """
    found: dict[str, bool] = {}
    is_package = modules()[module].name == "__init__.py"

    def add(name: str, eager: bool) -> None:
        if name in modules():
            found[name] = found.get(name, False) or eager

    def visit(nodes: list[ast.stmt], eager: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse, eager)
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, eager)
            elif isinstance(node, ast.ImportFrom):
                source = _from_module(module, is_package, node)
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    add(full if full in modules() else source, eager)
            now = eager and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child], now)
                elif isinstance(child, ast.excepthandler):
                    visit(child.body, now)

    visit(tree(module).body, True)
    found.pop(module, None)
    return found


def layer_of(layers: list[tuple[str, list[str]]], module: str) -> int | None:
    """The index (0: bottom) of the layer that lists ``module`` or its package, else ``None``."""
    best: tuple[int, int] | None = None
    for index, (_, listed) in enumerate(layers):
        for name in listed:
            covers = module == name or (name != "ml2p" and module.startswith(name + "."))
            if covers and (best is None or len(name) > best[1]):
                best = (index, len(name))
    return None if best is None else best[0]


def upward_imports(layers: list[tuple[str, list[str]]]) -> tuple[set[str], set[str]]:
    """The imports of a higher layer's module: ``(at import time, only in functions)``.

    Each as ``"importer -> imported"``. Modules no layer lists are left out
    (:func:`unlisted_modules` names them).
    """
    eager: set[str] = set()
    deferred: set[str] = set()
    for module in modules():
        here = layer_of(layers, module)
        if here is None:
            continue
        for imported, at_import in module_imports(module).items():
            there = layer_of(layers, imported)
            if there is not None and there > here:
                (eager if at_import else deferred).add(f"{module} -> {imported}")
    return eager, deferred


def unlisted_modules(layers: list[tuple[str, list[str]]]) -> list[str]:
    return sorted(module for module in modules() if layer_of(layers, module) is None)


# ---------------------------------------------------------------------------
# Everything at once
# ---------------------------------------------------------------------------

#: The call blocks whose steps are import lines (checked against the import graph, not calls):
#: the imports of a higher layer inside functions. There are none at import time.
IMPORT_BLOCKS = ("deferred-imports",)


def check_page(text: str) -> list[str]:
    """Every way the page ``text`` disagrees with the code, one line each (``[]``: none)."""
    page = read_page(text)
    problems = [f"line {number}: not 'caller -> callee': {line}" for number, line in page.bad_lines]
    for number, name in page.references:
        problem = reference_problem(name)
        if problem:
            problems.append(f"line {number}: {problem}")
    for block, steps in page.blocks.items():
        if block in IMPORT_BLOCKS:
            continue
        for step in steps:
            problem = uses(step.caller, step.callee)
            if problem:
                problems.append(f"line {step.line}: {step}: {problem}")
    if page.layers:
        for module in unlisted_modules(page.layers):
            problems.append(f"{module} is in no layer")
        eager, deferred = upward_imports(page.layers)
        for edge in sorted(eager):
            problems.append(f"{edge}: imports a higher layer when it is imported")
        block = "deferred-imports"
        stated = {str(step) for step in page.blocks.get(block, [])}
        for edge in sorted(deferred - stated):
            problems.append(f"{block}: the code has {edge}, the page does not say so")
        for edge in sorted(stated - deferred):
            problems.append(f"{block}: the page says {edge}, the code has no such import")
    return problems
