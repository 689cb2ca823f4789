"""Every hook is called from ml2p.lifecycle, and the hooks are listed phase by phase.

A hook call is a call of ``<anything>.hook.ml2p_<name>(...)`` or of its
``call_historic``/``call_extra``; reading a hook's implementations
(``.get_hookimpls()``) is not one.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from ml2p import builtin_hooks, hookspecs, lifecycle

PACKAGE = Path(lifecycle.__file__).parent

#: The hooks in the order of a model's life: the order of ml2p.hookspecs.
PHASES = [
    "ml2p_setup",
    "ml2p_teardown",
    "ml2p_generate",
    "ml2p_train",
    "ml2p_checkpoint",
    "ml2p_result",
    "ml2p_batch_result",
    "ml2p_record_invoke_id",
    "ml2p_cli_commands",
]

#: Hook calls still outside ml2p.lifecycle while their code is rewritten on another
#: branch (the test fails once one is gone, to be removed from here).
PENDING: dict[str, set] = {}


def hook_calls(source: str) -> list[str]:
    """Return the hooks called in ``source``, in the order of the calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        target = node.func
        if target.attr in ("call_historic", "call_extra") and isinstance(
            target.value, ast.Attribute
        ):
            target = target.value
        owner = target.value
        if (
            target.attr.startswith("ml2p_")
            and isinstance(owner, ast.Attribute)
            and owner.attr == "hook"
        ):
            found.append((node.lineno, target.attr))
    return [hook for _, hook in sorted(found)]


def calls_by_module() -> dict[str, list[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        calls = hook_calls(path.read_text(encoding="utf-8"))
        if calls:
            found[path.relative_to(PACKAGE).as_posix()] = calls
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("pm.hook.ml2p_train(trainer=t)\n", ["ml2p_train"]),
        ("self.plugin_manager.hook.ml2p_result(predictor=self, data=d)\n", ["ml2p_result"]),
        ("pm.hook.ml2p_cli_commands.call_historic(kwargs={})\n", ["ml2p_cli_commands"]),
        ("pm.hook.ml2p_result.get_hookimpls()\n", []),
        ("caller = pm.hook.ml2p_result\n", []),
        ("pm.ml2p_result(x)\n", []),
    ],
)
def test_scan_finds_hook_calls(source, expected):
    assert hook_calls(source) == expected


def test_hooks_are_called_only_from_the_lifecycle_module():
    outside = {
        module: set(calls) - PENDING.get(module, set())
        for module, calls in calls_by_module().items()
        if module != "lifecycle.py"
    }
    assert {module: calls for module, calls in outside.items() if calls} == {}


@pytest.mark.parametrize("module", sorted(PENDING))
def test_pending_hook_calls_are_still_pending(module):
    assert PENDING[module] <= set(calls_by_module().get(module, ())), (
        f"{module} no longer calls {sorted(PENDING[module])}: remove it from PENDING"
    )


def test_the_lifecycle_module_calls_every_hook_but_pending_ones_in_phase_order():
    pending = set().union(*PENDING.values())
    assert calls_by_module()["lifecycle.py"] == [h for h in PHASES if h not in pending]


def _defined_in_order(module) -> list[str]:
    names = [
        name
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and name.startswith("ml2p_")
    ]
    return sorted(names, key=lambda name: inspect.getsourcelines(getattr(module, name))[1])


def test_hookspecs_are_in_phase_order():
    assert _defined_in_order(hookspecs) == PHASES


def test_builtin_plugin_follows_the_same_order():
    assert _defined_in_order(builtin_hooks) == [h for h in PHASES if h != "ml2p_cli_commands"]


def test_hookspecs_are_grouped_under_phase_banners():
    source = inspect.getsource(hookspecs)
    banners = [
        line[2:].split(":", 1)[0]
        for line, above in zip(source.splitlines()[1:], source.splitlines())
        if above.startswith("# ---") and line.startswith("# ") and not line.startswith("# ---")
    ]
    assert banners == [
        "Setup and teardown",
        "Generate",
        "Train",
        "Predict",
        "Record",
        "Command line",
    ]
