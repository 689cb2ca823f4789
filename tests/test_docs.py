"""The documentation covers every hook and every command.

These tests read the documentation sources in ``docs/`` and the code, so they
run without Sphinx on every Python version. If ``ML2P_DOCS_HTML`` names a
built HTML tree (``sphinx-build -b html docs $ML2P_DOCS_HTML``), the built
pages are checked too.
"""

from __future__ import annotations

import configparser
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import click
import pytest

from ml2p import hookspecs
from ml2p.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HTML_ENV = "ML2P_DOCS_HTML"
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"


# ---------------------------------------------------------------------------
# Reading directives from reST and MyST sources
# ---------------------------------------------------------------------------


class Directive(NamedTuple):
    name: str
    argument: str
    options: Dict[str, str]


_RST_START = re.compile(r"^(?P<indent>[ \t]*)\.\.[ \t]+(?P<name>[\w:-]+)::[ \t]*(?P<arg>.*)$")
_MYST_START = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")


def _read_options(lines: List[str], start: int, indent: Optional[int]) -> Dict[str, str]:
    """Read ``:key: value`` lines from ``start``; continuation lines extend the value.

    ``indent`` is the directive's indentation for reST (options are indented
    more) or ``None`` for MyST (options start the lines after the fence).
    """
    options: Dict[str, str] = {}
    key = None
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped:
            break
        if indent is not None and len(line) - len(line.lstrip()) <= indent:
            break
        match = _OPTION.match(stripped)
        if match:
            key = match["key"]
            options[key] = match["value"].strip()
        elif key is not None and line[:1].isspace():
            options[key] = f"{options[key]} {stripped}".strip()
        else:
            break
    return options


def directives(text: str, name: str) -> List[Directive]:
    """Return every ``name`` directive in reST (``.. name::``) or MyST (```{name}) text."""
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        rst = _RST_START.match(line)
        if rst and rst["name"] == name:
            indent = len(rst["indent"].expandtabs())
            found.append(
                Directive(name, rst["arg"].strip(), _read_options(lines, index + 1, indent))
            )
            continue
        myst = _MYST_START.match(line.strip())
        if myst and myst["name"] == name:
            found.append(
                Directive(name, myst["arg"].strip(), _read_options(lines, index + 1, None))
            )
    return found


def _names(value: str) -> set:
    return {n.strip() for n in value.replace("\n", " ").split(",") if n.strip()}


def automodule_covers(text: str, module: str, member: str) -> bool:
    """Whether an ``automodule`` of ``module`` in ``text`` documents ``member``.

    ``:members:`` with no value documents every public member that has a
    docstring; with a value, only those listed. ``:exclude-members:`` and
    ``:no-index:`` (no cross-reference target) take a member out.
    """
    for directive in directives(text, "automodule"):
        if directive.argument != module:
            continue
        opts = directive.options
        if "members" not in opts or "no-index" in opts or "noindex" in opts:
            continue
        if member in _names(opts.get("exclude-members", "")):
            continue
        listed = _names(opts["members"])
        if not listed or member in listed:
            return True
    return False


# ---------------------------------------------------------------------------
# Checking hook docstrings
# ---------------------------------------------------------------------------


def docstring_problems(func) -> List[str]:
    """Return what the hook reference would be missing for ``func``."""
    doc = inspect.getdoc(func) or ""
    if not doc.strip():
        return ["no docstring"]
    problems = []
    for param in inspect.signature(func).parameters:
        field = rf"^:param([ \t]+[\w\[\], .]+)?[ \t]+{re.escape(param)}:[ \t]*\S"
        if not re.search(field, doc, re.M):
            problems.append(f"no ':param {param}:'")
    if not re.search(r"^:returns?:[ \t]*\S", doc, re.M):
        problems.append("no ':returns:'")
    if not re.search(r"^\.\. versionadded::[ \t]*\S", doc, re.M):
        problems.append("no '.. versionadded::'")
    return problems


def hookspec_functions() -> Dict[str, object]:
    """The hook specifications: ``ml2p_*`` functions carrying pluggy's spec marker."""
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("ml2p_") and callable(obj) and hasattr(obj, SPEC_MARKER)
    }


# ---------------------------------------------------------------------------
# Walking click command trees
# ---------------------------------------------------------------------------


def command_paths(group: click.Group, prefix: Tuple[str, ...] = ()) -> Iterator[Tuple[str, ...]]:
    """Yield the path of every visible command under ``group``, depth first."""
    ctx = click.Context(group, info_name=prefix[-1] if prefix else None)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{' '.join((*prefix, name))} is listed but does not load"
        if command.hidden:
            continue
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def load_ref(ref: str) -> object:
    module_name, _, attr = ref.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def click_covers(text: str, group: click.Group, path: Tuple[str, ...]) -> bool:
    """Whether a ``click`` directive in ``text`` documents command ``path`` of ``group``.

    With ``:nested: full`` every command is covered; otherwise only the
    top-level ones (listed by name). ``:commands:`` restricts the top level.
    """
    for directive in directives(text, "click"):
        if load_ref(directive.argument) is not group:
            continue
        opts = directive.options
        listed = _names(opts.get("commands", ""))
        if listed and path[0] not in listed:
            continue
        if len(path) == 1 or opts.get("nested") == "full":
            return True
    return False


def page(stem: str) -> str:
    """The source of ``docs/<stem>.rst`` or ``docs/<stem>.md``."""
    matches = [p for p in (DOCS / f"{stem}.rst", DOCS / f"{stem}.md") if p.exists()]
    assert len(matches) == 1, f"expected one of docs/{stem}.rst or docs/{stem}.md"
    return matches[0].read_text(encoding="utf-8")


def console_scripts() -> Dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)


def built_html(name: str) -> str:
    folder = os.environ.get(HTML_ENV)
    if not folder:
        pytest.skip(f"set {HTML_ENV} to a built HTML tree to check the built pages")
    path = Path(folder) / name
    assert path.is_file(), f"{path} was not built"
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Bad input: the checks above must catch what is missing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hooks\n=====\n\nNo directive here.\n",
        ".. automodule:: ml2p.hookspecs\n",  # no :members:
        ".. automodule:: ml2p.other\n   :members:\n",
        ".. automodule:: ml2p.hookspecs\n   :members: ml2p_train\n",
        ".. automodule:: ml2p.hookspecs\n   :members:\n   :exclude-members: ml2p_setup, x\n",
        ".. automodule:: ml2p.hookspecs\n   :members:\n   :no-index:\n",
        "```{automodule} ml2p.hookspecs\n:members: ml2p_result,\n  ml2p_train\n```\n",
        "```{automodule} ml2p.hookspecs\n\n:members:\n```\n",  # options after a blank line
    ],
)
def test_automodule_check_refuses_pages_missing_a_hook(text):
    assert not automodule_covers(text, "ml2p.hookspecs", "ml2p_setup")


@pytest.mark.parametrize(
    "text",
    [
        ".. automodule:: ml2p.hookspecs\n   :members:\n",
        "Intro.\n\n.. automodule:: ml2p.hookspecs\n   :undoc-members:\n   :members:\n",
        ".. automodule:: ml2p.hookspecs\n   :members: ml2p_train,\n      ml2p_setup\n",
        "```{automodule} ml2p.hookspecs\n:members:\n```\n",
        ":::{automodule} ml2p.hookspecs\n:members: ml2p_setup\n:::\n",
    ],
)
def test_automodule_check_accepts_pages_with_the_hook(text):
    assert automodule_covers(text, "ml2p.hookspecs", "ml2p_setup")


def _no_doc(predictor, data):
    pass


def _bare_doc(predictor, data):
    """Does something."""


def _half_doc(predictor, data):
    """Does something.

    :param predictor: The predictor.
    :param data:
    :returns: Nothing.
    """


def _full_doc(predictor, data):
    """Does something.

    :param predictor: The predictor.
    :param list data: The data.
    :returns: Nothing.

    .. versionadded:: 0.7
    """


@pytest.mark.parametrize(
    "func, expected",
    [
        (_no_doc, ["no docstring"]),
        (
            _bare_doc,
            [
                "no ':param predictor:'",
                "no ':param data:'",
                "no ':returns:'",
                "no '.. versionadded::'",
            ],
        ),
        (_half_doc, ["no ':param data:'", "no '.. versionadded::'"]),
        (_full_doc, []),
    ],
)
def test_docstring_check_names_each_missing_field(func, expected):
    assert docstring_problems(func) == expected


@click.group()
def _toy() -> None:
    """A toy group."""


@_toy.group("sub")
def _sub() -> None:
    """A sub-group."""


@_sub.command("leaf")
def _leaf() -> None:
    """A leaf."""


@_toy.command("other")
def _other() -> None:
    """Another command."""


@_toy.command("secret", hidden=True)
def _secret() -> None:
    """Hidden."""


_TOY = f"{__name__}:_toy"


@pytest.mark.parametrize(
    "text, path",
    [
        ("No directive.\n", ("other",)),
        (f".. click:: {__name__}:_other\n   :nested: full\n", ("other",)),
        (f".. click:: {_TOY}\n   :nested: short\n", ("sub", "leaf")),
        (f".. click:: {_TOY}\n", ("sub", "leaf")),
        (f".. click:: {_TOY}\n   :nested: full\n   :commands: other\n", ("sub",)),
        (f"```{{click}} {_TOY}\n:commands: other\n:nested: full\n```\n", ("sub", "leaf")),
    ],
)
def test_click_check_refuses_pages_missing_a_command(text, path):
    assert not click_covers(text, _toy, path)


def test_command_walk_lists_nested_commands_and_skips_hidden():
    assert list(command_paths(_toy)) == [("other",), ("sub",), ("sub", "leaf")]


def test_click_check_accepts_a_full_nested_directive():
    text = f"```{{click}} {_TOY}\n:prog: toy\n:nested: full\n```\n"
    assert all(click_covers(text, _toy, path) for path in command_paths(_toy))


# ---------------------------------------------------------------------------
# The real documentation
# ---------------------------------------------------------------------------


def test_hookspecs_are_the_plugin_managers_hooks():
    specs = hookspec_functions()
    assert specs, "no hook specifications found in ml2p.hookspecs"
    pm = make_plugin_manager(load_entry_points=False)
    registered = {name for name in vars(pm.hook) if not name.startswith("_")}
    assert set(specs) == registered


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_is_in_the_hook_reference(hook):
    assert automodule_covers(page("hooks"), hookspecs.__name__, hook), (
        f"docs/hooks.* does not document {hook}: it needs "
        f"'.. automodule:: {hookspecs.__name__}' with ':members:' covering it"
    )


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_docstring_is_complete(hook):
    assert docstring_problems(hookspec_functions()[hook]) == []


def _documented_groups() -> List[Tuple[str, str, click.Group]]:
    """(console script, click reference, group) for each command the CLI page documents."""
    text = page("cli")
    scripts = console_scripts()
    result = []
    for directive in directives(text, "click"):
        prog = directive.options.get("prog", "")
        assert prog in scripts, f"click directive for {directive.argument} has no :prog: script"
        group = load_ref(directive.argument)
        assert isinstance(group, click.Group), f"{directive.argument} is not a click group"
        result.append((prog, directive.argument, group))
    return result


def test_cli_page_documents_every_console_script():
    documented = {prog for prog, _, _ in _documented_groups()}
    assert documented == set(console_scripts())


def test_cli_page_documents_the_group_each_script_runs():
    for prog, ref, _ in _documented_groups():
        # The documented group lives in the module whose function the script calls.
        assert ref.partition(":")[0] == console_scripts()[prog].partition(":")[0]


def test_every_ml2p_command_is_in_the_cli_reference():
    text = page("cli")
    groups = _documented_groups()
    assert groups, "docs/cli.* has no click directive"
    for prog, _, group in groups:
        paths = list(command_paths(group))
        assert paths, f"{prog} has no commands"
        missing = [
            " ".join((prog, *path))
            for path in paths
            if not click_covers(text, group, path) and f"{prog} {' '.join(path)}" not in text
        ]
        assert missing == []


def test_compat_command_tree_is_documented():
    """The ML2P 0.6 command tree (DESIGN.md) is all there, and so in the reference."""
    from ml2p.cli import cli

    expected = {
        "init": set(),
        "dataset": {"list", "create", "delete", "ls", "up", "dn", "rm", "generate"},
        "training-job": {"list", "create", "describe", "wait"},
        "model": {"list", "create", "delete", "describe"},
        "endpoint": {"list", "create", "delete", "describe", "wait", "invoke"},
        "notebook": {"list", "create", "presigned-url", "describe", "delete", "stop", "start"},
        "repo": {"list", "create", "delete", "describe"},
    }
    paths = set(command_paths(cli))
    for name, subcommands in expected.items():
        assert (name,) in paths
        assert {(name, sub) for sub in subcommands} <= paths
    text = page("cli")
    assert all(click_covers(text, cli, path) for path in paths)


def test_every_command_has_help_text():
    for prog, _, group in _documented_groups():
        for path in command_paths(group):
            command = group
            for name in path:
                command = command.get_command(click.Context(command), name)
            assert (command.help or command.short_help or "").strip(), " ".join((prog, *path))


def toctree_entries(text: str) -> List[str]:
    """The documents listed in the MyST ``{toctree}`` fences of ``text``."""
    entries: List[str] = []
    fence = None
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None:
            match = _MYST_START.match(stripped)
            if match and match["name"] == "toctree":
                fence = match["fence"]
        elif stripped == fence:
            fence = None
        elif stripped and not stripped.startswith(":"):
            entries.append(stripped)
    return entries


def test_toctree_reader_stops_at_the_fence():
    text = "```{toctree}\n:maxdepth: 2\n\na\nb\n```\n\nc\n```{toctree}\nd\n```\n"
    assert toctree_entries(text) == ["a", "b", "d"]


def test_every_page_is_in_a_toctree():
    listed = set(toctree_entries(page("index")))
    pages = {p.stem for p in DOCS.glob("*.md")} | {p.stem for p in DOCS.glob("*.rst")}
    pages.discard("index")
    assert pages <= listed, f"not in any toctree: {sorted(pages - listed)}"
    assert {"serving", "hooks", "cli", "api", "changelog"} <= listed


def test_changelog_page_includes_the_changelog():
    (directive,) = directives(page("changelog"), "include")
    assert (DOCS / directive.argument).resolve() == (ROOT / "CHANGELOG.md").resolve()
    assert (ROOT / "CHANGELOG.md").is_file()


#: The library reference's public API, name for name (DESIGN.md's seed reference).
REFERENCE_API = {
    "Model": ["dataset_generator", "trainer", "predictor"],
    "ModelTrainer": ["train"],
    "ModelPredictor": [
        "batch_invoke",
        "batch_result",
        "invoke",
        "metadata",
        "record_invoke",
        "record_invoke_id",
        "result",
        "setup",
        "teardown",
    ],
    "ModelDatasetGenerator": ["generate", "upload_to_s3"],
    "SageMakerEnv": [],
    "SageMakerEnvType": ["DATASET", "TRAIN", "SERVE", "LOCAL", "UNKNOWN"],
    "LocalEnv": ["clean_model_folder", "download_dataset", "download_model"],
    "S3URL": ["bucket", "path", "url"],
}


def autoclass_covers(text: str, qualname: str, member: Optional[str] = None) -> bool:
    """Whether an ``autoclass`` of ``qualname`` in ``text`` documents ``member`` (or the class)."""
    for directive in directives(text, "autoclass"):
        if directive.argument != qualname or "no-index" in directive.options:
            continue
        if member is None:
            return True
        members = directive.options.get("members")
        if members is not None and (not _names(members) or member in _names(members)):
            return True
    return False


def test_autoclass_check_refuses_unlisted_members():
    text = ".. autoclass:: ml2p.core.S3URL\n   :members: bucket, url\n"
    assert autoclass_covers(text, "ml2p.core.S3URL")
    assert autoclass_covers(text, "ml2p.core.S3URL", "url")
    assert not autoclass_covers(text, "ml2p.core.S3URL", "path")
    assert not autoclass_covers(".. autoclass:: ml2p.core.S3URL\n", "ml2p.core.S3URL", "url")
    assert not autoclass_covers(text, "ml2p.core.LocalEnv")


#: The other names of ml2p.core that ML2P 0.6 projects import (DESIGN.md).
COMPAT_NAMES = {
    "import_string",
    "setup_logging",
    "LocalEnvError",
    "ml2p_version",
    "ModellingProject",
    "ModellingSubCfg",
}


def test_reference_api_is_the_public_core():
    import ml2p.core

    assert set(REFERENCE_API) | COMPAT_NAMES == set(ml2p.core.__all__)


@pytest.mark.parametrize("name", sorted(COMPAT_NAMES))
def test_api_page_documents_the_compat_names(name):
    text = page("api")
    assert f"ml2p.core.{name}" in text


@pytest.mark.parametrize("cls", sorted(REFERENCE_API))
def test_api_page_documents_the_reference(cls):
    text = page("api")
    qualname = f"ml2p.core.{cls}"
    assert autoclass_covers(text, qualname), f"docs/api.* has no autoclass of {qualname}"
    missing = [m for m in REFERENCE_API[cls] if not autoclass_covers(text, qualname, m)]
    assert missing == []


def code_blocks(text: str, language: str) -> List[str]:
    """The fenced code blocks of ``language`` in Markdown ``text``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


def test_code_block_reader():
    text = "```python\na = 1\n```\n\n```ini\nx\n```\n```python\nb = 2\n```\n"
    assert code_blocks(text, "python") == ["a = 1\n", "b = 2\n"]


def test_tutorial_model_generates_trains_and_predicts(tmp_path, monkeypatch):
    from ml2p import lifecycle
    from ml2p.core import Model, SageMakerEnv
    from ml2p.serving import bodies

    (source,) = code_blocks(page("tutorial"), "python")
    namespace: Dict[str, object] = {"__name__": "tutorial_model"}
    exec(compile(source, "docs/tutorial.md", "exec"), namespace)
    model = namespace["LineModel"]
    assert isinstance(model, type) and issubclass(model, Model)

    monkeypatch.setenv("LINE_UPLOAD", "0")
    env = SageMakerEnv(tmp_path, environ={"ML2P_DATASET": "line-20240131"})
    lifecycle.generate(model.DATASET_GENERATOR(env))
    env = SageMakerEnv(tmp_path, environ={"ML2P_TRAINING_JOB": "line-demo-line-0-1"})
    lifecycle.train(model.TRAINER(env))
    env = SageMakerEnv(tmp_path, environ={"ML2P_MODEL_VERSION": "line-demo-line-0-1-0"})
    predictor = model.PREDICTOR(env)
    lifecycle.setup(predictor)
    try:
        answer = predictor.invoke({"x": 2})
        batch = predictor.batch_invoke([{"x": 1}, {"x": 2}])
        # CSV rows: without a header a list, with one an object (docs/serving.md).
        rows = bodies.decode_request(b"2\n", bodies.CSV).data
        objects = bodies.decode_request(b"x\n2\n", bodies.CSV_WITH_HEADER).data
        from_csv = [b["result"] for b in predictor.batch_invoke(rows + objects)]
    finally:
        lifecycle.teardown(predictor)
    # The generated points lie around y = 3x.
    assert abs(answer["result"]["y"] - 6) < 0.5
    assert answer["metadata"]["model_version"] == "line-demo-line-0-1-0"
    assert [b["result"] for b in batch] == [{"y": answer["result"]["y"] / 2}, answer["result"]]
    assert from_csv == [answer["result"], answer["result"]]


def test_plugin_quickstart_plugin_passes_its_own_tests(tmp_path):
    blocks = code_blocks(page("plugin-quickstart"), "python")
    hooks_source, tests_source = blocks[0], blocks[1]
    package = tmp_path / "ml2p_latency"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hooks.py").write_text(hooks_source)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_latency.py").write_text(tests_source)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "ml2p_core")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b3 passed\b", proc.stdout)


# ---------------------------------------------------------------------------
# The built HTML, when given
# ---------------------------------------------------------------------------


def test_built_api_reference_has_each_reference_name():
    html = built_html("api.html")
    missing = [
        name
        for cls, members in REFERENCE_API.items()
        for name in [f"ml2p.core.{cls}"] + [f"ml2p.core.{cls}.{m}" for m in members]
        if f'id="{name}"' not in html
    ]
    assert missing == []


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_built_hook_reference_has_each_hook(hook):
    html = built_html("hooks.html")
    assert f'id="{hookspecs.__name__}.{hook}"' in html


def test_built_cli_reference_has_each_command():
    html = built_html("cli.html")
    missing = []
    for prog, _, group in _documented_groups():
        for path in command_paths(group):
            anchor = "-".join((prog, *path)).lower()
            if f'id="{anchor}"' not in html:
                missing.append(" ".join((prog, *path)))
    assert missing == []


# ---------------------------------------------------------------------------
# Settings tables: the defaults the pages state are the code's
# ---------------------------------------------------------------------------


def _table_default(page: str, variable: str) -> str:
    """The default column of ``variable``'s row in a settings table of ``page``."""
    for line in (DOCS / page).read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] == f"`{variable}`":
            return cells[1]
    raise AssertionError(f"{page} has no settings row for {variable}")


def _code_defaults() -> Dict[str, str]:
    from ml2p.serving import recorder
    from ml2p.serving.settings import ServerSettings

    def per_layout(values: Dict[str, int]) -> str:
        return f"{values['object']} (`object`), {values['batched']} (`batched`)"

    return {
        "ML2P_SERVER_THREADS": str(ServerSettings.from_environ({}).threads),
        "ML2P_RECORD_BATCH_SIZE": str(recorder.DEFAULT_BATCH_SIZE),
        "ML2P_RECORD_BATCH_BYTES": str(recorder.DEFAULT_BATCH_BYTES),
        "ML2P_RECORD_BATCH_SECONDS": f"{recorder.DEFAULT_BATCH_SECONDS:g}",
        "ML2P_RECORD_QUEUE_SIZE": per_layout(recorder.DEFAULT_QUEUE_SIZE),
        "ML2P_RECORD_WRITERS": per_layout(recorder.DEFAULT_WRITERS),
    }


@pytest.mark.parametrize("page", ["environment.md", "serving.md"])
@pytest.mark.parametrize("variable", sorted(_code_defaults()))
def test_settings_tables_state_the_code_defaults(page, variable):
    assert _table_default(page, variable) == _code_defaults()[variable]


def test_table_default_reader_refuses_a_missing_row():
    with pytest.raises(AssertionError, match="no settings row"):
        _table_default("serving.md", "ML2P_NO_SUCH_SETTING")
