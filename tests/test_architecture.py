"""docs/architecture.md says what the code is: every name, call step and layer, checked by AST.

The page's conventions and the checker are in :mod:`tests.architecture_support`.
The checker is itself tested on small pages that get things wrong.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

import pytest

from tests.architecture_support import (
    IMPORT_BLOCKS,
    PAGE,
    check_page,
    module_imports,
    modules,
    read_page,
    reference_problem,
    tree,
    unlisted_modules,
    upward_imports,
    uses,
)

PAGE_TEXT = PAGE.read_text(encoding="utf-8")
READ = read_page(PAGE_TEXT)

#: The call blocks the page has, in its order.
BLOCKS = [
    "deferred-imports",
    "plugin-managers",
    "hook-calls",
    "phase-callers",
    "worker",
    "request-path",
    "record-writing",
]


def _params(items: list[Any]) -> list[Any]:
    return [pytest.param(item, id=str(item)) for item in items]


def _steps() -> list[Any]:
    return [
        step for name, steps in READ.blocks.items() if name not in IMPORT_BLOCKS for step in steps
    ]


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def test_page_has_its_layers_and_call_blocks():
    # If the conventions stopped matching the page, every check below would pass on nothing.
    assert [name.split()[0] for name, _ in READ.layers] == [str(n) for n in range(1, 9)]
    assert all(listed for _, listed in READ.layers)
    assert list(READ.blocks) == BLOCKS
    assert all(READ.blocks[name] for name in BLOCKS)
    assert len({name for _, name in READ.references}) > 50
    assert READ.bad_lines == []


@pytest.mark.parametrize("name", _params(sorted({name for _, name in READ.references})))
def test_each_name_on_the_page_is_in_the_code(name):
    assert reference_problem(name) is None


@pytest.mark.parametrize("step", _params(_steps()))
def test_each_call_step_is_a_call_in_the_code(step):
    assert uses(step.caller, step.callee) is None


def test_every_module_is_in_a_layer():
    assert unlisted_modules(READ.layers) == []


def test_no_module_imports_a_higher_layer_when_it_is_imported():
    eager, _ = upward_imports(READ.layers)
    assert eager == set()


def test_no_module_imports_a_higher_layer_in_functions_but_those_listed():
    _, deferred = upward_imports(READ.layers)
    assert deferred == {str(step) for step in READ.blocks["deferred-imports"]}


def test_the_record_format_is_below_its_writers_and_readers():
    # The library's recorder, the server's writer and the reader all import the format
    # when they are imported, and it imports none of them.
    for module in ("ml2p.recording", "ml2p.serving.record_encoding", "ml2p.records.capture"):
        assert module_imports(module).get("ml2p.record_format") is True, module
    assert set(module_imports("ml2p.record_format")) == {
        "ml2p.errors",
        "ml2p.media_types",
        "ml2p.record_ids",
        "ml2p.variables",
    }


def test_hook_calls_are_in_the_order_of_the_hookspecs_and_of_lifecycle():
    steps = READ.blocks["hook-calls"]
    specs = [
        node.name
        for node in tree("ml2p.hookspecs").body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("ml2p_")
    ]
    assert [step.callee.rsplit(".", 1)[1] for step in steps] == specs
    defined = [
        f"ml2p.lifecycle.{node.name}"
        for node in tree("ml2p.lifecycle").body
        if isinstance(node, ast.FunctionDef)
    ]
    callers = [step.caller for step in steps]
    assert [name for name in defined if name in callers] == callers


def test_the_whole_page_checks_out():
    assert check_page(PAGE_TEXT) == []


# ---------------------------------------------------------------------------
# The checker, on pages that get things wrong
# ---------------------------------------------------------------------------

WRONG_PAGE = """
# A wrong page

The app is `ml2p.serving.aap.PredictionApp`; setup is `ml2p.lifecycle.setup()`.

```{code-block} text
:name: request-path

ml2p.serving.app.PredictionApp._predict -> ml2p.serving.bodies.decode_request
ml2p.serving.app.PredictionApp._predict -> ml2p.serving.recorder.BackgroundRecorder.close
```
"""


def test_checker_reports_a_misspelled_module_and_a_false_call():
    assert check_page(WRONG_PAGE) == [
        "line 4: ml2p.serving.aap.PredictionApp: no module ml2p.serving.aap, "
        "and ml2p.serving defines no 'aap'",
        "line 10: ml2p.serving.app.PredictionApp._predict -> "
        "ml2p.serving.recorder.BackgroundRecorder.close: ml2p.serving.app.PredictionApp._predict "
        "does not call ml2p.serving.recorder.BackgroundRecorder.close",
    ]


def test_checker_reports_imports_the_page_leaves_out_or_makes_up():
    page = PAGE_TEXT.replace(
        "ml2p.recording -> ml2p.serving.record_encoding",
        "ml2p.recording -> ml2p.serving.server",
    ).replace(
        "ml2p.plugins -> ml2p.core ",
        "ml2p.plugins -> ml2p.cli ",
    )
    assert check_page(page) == [
        "deferred-imports: the code has ml2p.plugins -> ml2p.core, the page does not say so",
        "deferred-imports: the code has ml2p.recording -> ml2p.serving.record_encoding, "
        "the page does not say so",
        "deferred-imports: the page says ml2p.plugins -> ml2p.cli, the code has no such import",
        "deferred-imports: the page says ml2p.recording -> ml2p.serving.server, "
        "the code has no such import",
    ]


def test_checker_reports_an_import_of_a_higher_layer_at_import_time():
    # Listed among the commands, the media types sit above the modules that import them.
    page = PAGE_TEXT.replace("`ml2p.media_types`, ", "").replace(
        "| `ml2p.cli`,", "| `ml2p.media_types`, `ml2p.cli`,"
    )
    assert check_page(page) == [
        f"{module} -> ml2p.media_types: imports a higher layer when it is imported"
        for module in (
            "ml2p.record_format",
            "ml2p.records.capture",
            "ml2p.serving.bodies",
        )
    ]


def test_checker_reports_a_module_in_no_layer():
    page = PAGE_TEXT.replace("`ml2p.checkpoints`", "checkpoints")
    assert check_page(page) == ["ml2p.checkpoints is in no layer"]


def test_layering_follows_the_order_of_the_layers():
    low, high = ("low", ["ml2p.lifecycle"]), ("high", ["ml2p.core"])
    assert upward_imports([low, high]) == (set(), set())
    # ml2p.core imports ml2p.lifecycle when it is imported.
    assert upward_imports([high, low]) == ({"ml2p.core -> ml2p.lifecycle"}, set())
    # ml2p.plugins imports ml2p.core in functions only.
    plugins, core = ("low", ["ml2p.plugins"]), ("high", ["ml2p.core"])
    assert upward_imports([plugins, core]) == (set(), {"ml2p.plugins -> ml2p.core"})


def test_import_scan_leaves_type_checking_imports_out():
    # ml2p.lifecycle imports ml2p.core and ml2p.plugins for annotations only.
    source = (modules()["ml2p.lifecycle"]).read_text(encoding="utf-8")
    assert "from ml2p.core import" in source and "from ml2p.plugins import" in source
    assert module_imports("ml2p.lifecycle") == {}
    assert module_imports("ml2p.plugin_host") == {"ml2p.plugins": True}


def test_page_reader_conventions():
    page = read_page(
        textwrap.dedent(
            """
            `ml2p.core.Model()` and `ml2p.yml` and `ML2P_S3_URL` and `ml2p`.

            ```python
            import ml2p.not_read  # `ml2p.not.read`
            ```

            | layer | modules | what |
            |---|---|---|
            | 1 low | `ml2p.errors`, `ml2p` | `ml2p.errors.ConfigError` |

            ```{code-block} text
            :name: steps
            :caption: Steps

            ml2p.lifecycle.setup -> teardown  # a relative callee
            ml2p.core.ModelPredictor.invoke -> ml2p.lifecycle.result
            not a step
            ```
            """
        )
    )
    assert [name for _, name in page.references] == [
        "ml2p.core.Model",
        "ml2p.errors",
        "ml2p.errors.ConfigError",
    ]
    assert page.layers == [("1 low", ["ml2p.errors", "ml2p"])]
    assert [str(step) for step in page.blocks["steps"]] == [
        "ml2p.lifecycle.setup -> ml2p.lifecycle.teardown",
        "ml2p.core.ModelPredictor.invoke -> ml2p.lifecycle.result",
    ]
    assert page.bad_lines == [(18, "not a step")]


@pytest.mark.parametrize(
    ("caller", "callee", "holds"),
    [
        # Through an import, and through ``self``.
        ("ml2p.core.ModelPredictor._prediction", "ml2p.lifecycle.result", True),
        ("ml2p.core.ModelPredictor._prediction", "ml2p.core.ModelPredictor.metadata", True),
        # Inherited: plugin_manager is defined on _Hooked.
        ("ml2p.lifecycle.setup", "ml2p.core.ModelPredictor.plugin_manager", True),
        # A hook call.
        ("ml2p.lifecycle.setup", "ml2p.hookspecs.ml2p_setup", True),
        ("ml2p.lifecycle.setup", "ml2p.hookspecs.ml2p_teardown", False),
        # A callback handed over, not called here.
        ("ml2p.runtime.generate_dataset", "ml2p.lifecycle.generate", True),
        # predictor.setup(): a method of that name counts, a module's function does not.
        ("ml2p.builtin_hooks.ml2p_setup", "ml2p.core.ModelPredictor.setup", True),
        ("ml2p.builtin_hooks.ml2p_setup", "ml2p.lifecycle.setup", False),
        ("ml2p.lifecycle.result", "ml2p.lifecycle.setup", False),
    ],
)
def test_call_finder(caller, callee, holds):
    assert (uses(caller, callee) is None) is holds
