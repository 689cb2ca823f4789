"""Every hook is specified, documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ml2p import builtin_hooks, hookspecs

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if inspect.isfunction(obj) and hasattr(obj, "ml2p_spec")
)
TESTS = (Path(__file__).parent / "test_hooks.py").read_text()


def test_hooks_found():
    assert {
        "ml2p_setup",
        "ml2p_teardown",
        "ml2p_train",
        "ml2p_generate",
        "ml2p_result",
        "ml2p_batch_result",
        "ml2p_record_invoke_id",
        "ml2p_cli_commands",
    } <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    spec = getattr(hookspecs, hook)
    doc = inspect.getdoc(spec) or ""
    assert len(doc.splitlines()[0]) > 10, f"{hook} needs a summary line"
    for param in inspect.signature(spec).parameters:
        assert f":param {param}:" in doc, f"{hook} does not document parameter {param}"
    assert ":returns:" in doc, f"{hook} does not document its return value"
    assert ".. versionadded::" in doc, f"{hook} does not say since which version"
    opts = spec.ml2p_spec
    if opts.get("firstresult"):
        assert "``firstresult``" in doc, f"{hook} is firstresult but does not say so"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook):
    assert re.search(rf"^def test_hook_{hook}(?:_\w+)?\(", TESTS, re.M), f"no test_hook_{hook} test"


@pytest.mark.parametrize("hook", HOOKS)
def test_builtin_plugin_matches_spec(hook):
    if hook == "ml2p_cli_commands":
        assert not hasattr(builtin_hooks, hook)
        return
    impl = getattr(builtin_hooks, hook)
    assert impl.ml2p_impl["trylast"] is True
    spec_params = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert list(inspect.signature(impl).parameters) == spec_params
