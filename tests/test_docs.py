"""The documentation covers every hook, command and reference name, as Sphinx built it.

Two kinds of tests:

* tests of the code alone, run everywhere: the hook specifications are the
  plugin manager's hooks, ``ml2p.core``'s public names are the library
  reference's, each console script runs its group, every command has help;
* tests of the built documentation, when ``ML2P_DOCS_HTML`` names a tree
  built by ``sphinx-build -b html docs $ML2P_DOCS_HTML`` (``tox -e docs``
  does). They read what Sphinx made of the pages, never the sources: the
  inventory of documented objects (``objects.inv``, read with
  :mod:`sphinx.util.inventory`) and each page's docutils tree (the doctrees
  Sphinx keeps in ``.doctrees``). Without it they are skipped.

The readers of the built documentation are themselves tested on a small
project built here with what the real one must not have: a hook left out, a
docstring without its fields, a command left out, a page in no toctree...
"""

from __future__ import annotations

import configparser
import inspect
import os
import pickle
import posixpath
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

import ml2p.cli
import ml2p.docker
from ml2p import hookspecs
from ml2p.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
HTML_ENV = "ML2P_DOCS_HTML"
SPEC_MARKER = f"{hookspecs.PROJECT_NAME}_spec"

#: Each console script's program name and the click group it runs.
PROGRAMS: dict[str, click.Group] = {"ml2p": ml2p.cli.cli, "ml2p-docker": ml2p.docker.cli}

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

#: The other names of ml2p.core that ML2P 0.6 projects import (DESIGN.md).
COMPAT_NAMES = {
    "import_string",
    "setup_logging",
    "LocalEnvError",
    "ml2p_version",
    "ModellingProject",
    "ModellingSubCfg",
}


def hookspec_functions() -> dict[str, Any]:
    """The hook specifications: ``ml2p_*`` functions carrying pluggy's spec marker."""
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("ml2p_") and callable(obj) and hasattr(obj, SPEC_MARKER)
    }


def console_scripts() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
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


def command_at(group: click.Group, path: tuple[str, ...]) -> click.Command:
    command: click.Command = group
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, path
        command = found
    return command


def option_names(command: click.Command, info_name: str) -> set[str]:
    """The names Sphinx's ``option`` directive gives ``command``'s parameters.

    An option is named by each of its flags, an argument by its metavar up to
    ``=`` or a space (``MODEL=WEIGHT`` is ``MODEL``); ``--help`` is not listed.
    """
    ctx = click.Context(command, info_name=info_name)
    help_option = command.get_help_option(ctx)
    names: set[str] = set()
    for param in command.get_params(ctx):
        if param is help_option or getattr(param, "hidden", False):
            continue
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
        else:
            names.add(re.split(r"[\s=]", param.human_readable_name)[0])
    return names


# ---------------------------------------------------------------------------
# Reading the built documentation
# ---------------------------------------------------------------------------


class BuiltDocs:
    """A tree built by ``sphinx-build -b html``: its inventory and its pages' doctrees."""

    def __init__(self, folder: Path):
        from sphinx.util.inventory import InventoryFile

        self.folder = folder
        with open(folder / "objects.inv", "rb") as f:
            inventory = InventoryFile.load(f, "", posixpath.join)
        #: Object type (``py:function``, ``std:doc``...) -> name -> the page it is on.
        self.objects: dict[str, dict[str, str]] = {
            kind: {name: _page_of(item) for name, item in items.items()}
            for kind, items in inventory.items()
        }
        self._doctrees: dict[str, Any] = {}

    def pages(self) -> set[str]:
        return set(self.objects.get("std:doc", {}))

    def doctree(self, page: str) -> Any:
        """The docutils tree Sphinx read from ``page`` (before resolving references)."""
        if page not in self._doctrees:
            with open(self.folder / ".doctrees" / f"{page}.doctree", "rb") as f:
                self._doctrees[page] = pickle.load(f)
        return self._doctrees[page]

    def page_of(self, name: str, kinds: str = "py:") -> str | None:
        """The page documenting the object ``name`` (of a type starting with ``kinds``)."""
        for kind, names in self.objects.items():
            if kind.startswith(kinds) and name in names:
                return names[name]
        return None


def _page_of(item: Any) -> str:
    # An inventory item is (project, version, uri, display name) in every Sphinx version.
    uri = item[2] if isinstance(item, tuple) else item.uri
    return uri.split("#")[0].rsplit(".", 1)[0]


def _nodes() -> tuple[Any, Any]:
    from docutils import nodes
    from sphinx import addnodes

    return nodes, addnodes


def described(built: BuiltDocs, page: str, name: str) -> Any:
    """The ``desc`` node that documents ``name`` on ``page``, or ``None``."""
    _, addnodes = _nodes()
    for desc in built.doctree(page).findall(addnodes.desc):
        for signature in desc.findall(addnodes.desc_signature):
            if name in signature["ids"]:
                return desc
    return None


def description_problems(built: BuiltDocs, page: str, name: str, params: list[str]) -> list[str]:
    """What the documentation of the function ``name`` on ``page`` lacks.

    Each of ``params`` in its Parameters field, a Returns field and a
    ``versionadded`` note, as Sphinx rendered its docstring.
    """
    nodes, addnodes = _nodes()
    desc = described(built, page, name)
    if desc is None:
        return ["not documented"]
    fields: dict[str, Any] = {}
    for field in desc.findall(nodes.field):
        fields[field.next_node(nodes.field_name).astext()] = field.next_node(nodes.field_body)
    body = fields.get("Parameters")
    named = {n.astext() for n in body.findall(addnodes.literal_strong)} if body else set()
    problems = [f"no parameter {param!r}" for param in params if param not in named]
    if not fields.get("Returns") or not fields["Returns"].astext().strip():
        problems.append("no Returns")
    notes = [n for n in desc.findall(addnodes.versionmodified) if n["type"] == "versionadded"]
    if not notes:
        problems.append("no versionadded")
    return problems


def section_names(built: BuiltDocs, page: str) -> set[str]:
    """The names of the sections of ``page`` (sphinx-click names one per command path)."""
    nodes, _ = _nodes()
    return {
        name for section in built.doctree(page).findall(nodes.section) for name in section["names"]
    }


def toctree_pages(built: BuiltDocs) -> set[str]:
    """Every page some toctree of the built documentation lists."""
    _, addnodes = _nodes()
    listed: set[str] = set()
    for page in built.pages():
        for toctree in built.doctree(page).findall(addnodes.toctree):
            listed.update(toctree["includefiles"])
    return listed


def code_blocks(built: BuiltDocs, page: str, language: str) -> list[str]:
    """The text of the code blocks of ``language`` on ``page``, in order."""
    nodes, _ = _nodes()
    return [
        block.astext()
        for block in built.doctree(page).findall(nodes.literal_block)
        if block.get("language") == language
    ]


def table_cell(built: BuiltDocs, page: str, first: str, column: int) -> str:
    """The text in ``column`` of the table row of ``page`` whose first cell is ``first``."""
    nodes, _ = _nodes()
    for row in built.doctree(page).findall(nodes.row):
        cells = [entry.astext().strip() for entry in row.findall(nodes.entry)]
        if cells and cells[0] == first and len(cells) > column:
            return cells[column]
    raise AssertionError(f"{page} has no table row for {first}")


def sources(built: BuiltDocs, page: str) -> set[Path]:
    """The files the text of ``page`` was read from (the page, and what it includes)."""
    nodes, _ = _nodes()
    return {
        Path(node.source).resolve()
        for node in built.doctree(page).findall(nodes.Element)
        if node.source
    }


@pytest.fixture(scope="session")
def built() -> BuiltDocs:
    folder = os.environ.get(HTML_ENV)
    if not folder:
        pytest.skip(f"set {HTML_ENV} to a tree built by sphinx-build -b html (tox -e docs)")
    pytest.importorskip("sphinx")
    assert (Path(folder) / "objects.inv").is_file(), f"{folder} holds no built documentation"
    return BuiltDocs(Path(folder))


# ---------------------------------------------------------------------------
# Bad input: a small project documented badly, built here
# ---------------------------------------------------------------------------

TOY_HOOKS = '''
def toy_full(predictor, data):
    """Does something.

    :param predictor: The predictor.
    :param list data: The data.
    :returns: Nothing.

    .. versionadded:: 0.7
    """


def toy_half(predictor, data):
    """Does something.

    :param predictor: The predictor.
    :returns: Nothing.
    """


def toy_bare(predictor, data):
    """Does something."""


def toy_left_out(predictor):
    """Not on any page."""
'''

TOY_CLI = '''
import click


@click.group()
@click.option("--verbose", is_flag=True, help="Say more.")
def toy():
    """A toy group."""


@toy.group("sub")
def sub():
    """A sub-group."""


@sub.command("leaf")
@click.argument("name")
def leaf(name):
    """A leaf."""


@toy.command("other")
@click.option("--count", "-c", type=int, help="How many.")
def other(count):
    """Another command."""
'''

TOY_PAGES = {
    "conf.py": """
        import os, sys
        sys.path.insert(0, os.path.abspath("."))
        extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx_click"]
        source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
    """,
    "index.md": """
        # Toy

        ```{toctree}
        hooks
        cli
        ```
    """,
    "hooks.rst": """
        Hooks
        =====

        .. automodule:: toy_hooks
           :members: toy_full, toy_half, toy_bare
    """,
    "cli.md": """
        # CLI

        | variable | default | meaning |
        |---|---|---|
        | `TOY_SIZE` | 3 | How big. |

        ```python
        answer = 42
        ```

        ```{include} included.md
        ```

        ```{eval-rst}
        .. click:: toy_cli:toy
           :prog: toy
           :nested: full
           :commands: other
        ```
    """,
    "included.md": """
        Included text.
    """,
    "orphan.md": """
        # In no toctree
    """,
}


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> BuiltDocs:
    """The toy project, built with Sphinx in a child process (its warnings allowed)."""
    for module in ("sphinx", "myst_parser", "sphinx_click"):
        pytest.importorskip(module)
    src = tmp_path_factory.mktemp("toy-docs")
    (src / "toy_hooks.py").write_text(TOY_HOOKS)
    (src / "toy_cli.py").write_text(TOY_CLI)
    for name, text in TOY_PAGES.items():
        (src / name).write_text(textwrap.dedent(text).lstrip())
    out = src / "_build"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return BuiltDocs(out)


def test_inventory_reader_misses_what_a_page_leaves_out(toy):
    assert toy.page_of("toy_hooks.toy_full") == "hooks"
    assert toy.page_of("toy_hooks.toy_left_out") is None
    assert toy.pages() == {"index", "hooks", "cli", "included", "orphan"}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("toy_full", []),
        ("toy_half", ["no parameter 'data'", "no versionadded"]),
        (
            "toy_bare",
            ["no parameter 'predictor'", "no parameter 'data'", "no Returns", "no versionadded"],
        ),
        ("toy_left_out", ["not documented"]),
    ],
)
def test_description_reader_names_each_missing_field(toy, name, expected):
    params = ["predictor", "data"] if name != "toy_left_out" else ["predictor"]
    assert description_problems(toy, "hooks", f"toy_hooks.{name}", params) == expected


def test_command_readers_miss_commands_and_options_left_out(toy):
    sys.path.insert(0, str(toy.folder.parent))
    try:
        import toy_cli
    finally:
        sys.path.pop(0)
    sections = section_names(toy, "cli")
    # :commands: other leaves the sub-group and its command out.
    assert {"toy", "toy other"} <= sections
    assert "toy sub" not in sections and "toy sub leaf" not in sections
    options = set(toy.objects["std:cmdoption"])
    assert option_names(toy_cli.toy, "toy") == {"--verbose"}
    assert option_names(command_at(toy_cli.toy, ("other",)), "other") == {"--count", "-c"}
    assert option_names(command_at(toy_cli.toy, ("sub", "leaf")), "leaf") == {"NAME"}
    assert {"toy.--verbose", "toy-other.--count", "toy-other.-c"} <= options
    assert "toy-sub-leaf.NAME" not in options


def test_command_walk_lists_nested_commands_and_skips_hidden():
    @click.group()
    def group() -> None:
        """A group."""

    @group.group("sub")
    def sub() -> None:
        """A sub-group."""

    @sub.command("leaf")
    def leaf() -> None:
        """A leaf."""

    @group.command("secret", hidden=True)
    def secret() -> None:
        """Hidden."""

    assert list(command_paths(group)) == [("sub",), ("sub", "leaf")]


def test_toctree_reader_finds_a_page_in_no_toctree(toy):
    assert toy.pages() - toctree_pages(toy) == {"index", "included", "orphan"}


def test_code_table_and_source_readers(toy):
    assert code_blocks(toy, "cli", "python") == ["answer = 42\n"]
    assert table_cell(toy, "cli", "TOY_SIZE", 1) == "3"
    with pytest.raises(AssertionError, match="no table row"):
        table_cell(toy, "cli", "TOY_NO_SUCH_SETTING", 1)
    assert (toy.folder.parent / "included.md").resolve() in sources(toy, "cli")
    assert (toy.folder.parent / "included.md").resolve() not in sources(toy, "hooks")


# ---------------------------------------------------------------------------
# The code
# ---------------------------------------------------------------------------


def test_hookspecs_are_the_plugin_managers_hooks():
    specs = hookspec_functions()
    assert specs, "no hook specifications found in ml2p.hookspecs"
    pm = make_plugin_manager(load_entry_points=False)
    registered = {name for name in vars(pm.hook) if not name.startswith("_")}
    assert set(specs) == registered


def test_reference_api_is_the_public_core():
    import ml2p.core

    assert set(REFERENCE_API) | COMPAT_NAMES == set(ml2p.core.__all__)


def test_each_console_script_runs_its_program(monkeypatch):
    scripts = console_scripts()
    assert set(scripts) == set(PROGRAMS)
    for prog, target in scripts.items():
        module, _, function = target.partition(":")
        main = getattr(__import__(module, fromlist=[function]), function)
        ran: list[Any] = []
        monkeypatch.setattr(PROGRAMS[prog], "main", lambda ran=ran, **kwargs: ran.append(kwargs))
        assert main(["--help"]) == 0
        assert ran == [{"args": ["--help"], "prog_name": prog}]


def test_compat_command_tree_is_there():
    """The ML2P 0.6 command tree (DESIGN.md); test_every_command_is_in_the_cli_reference
    checks that it is documented."""
    expected = {
        "init": set(),
        "dataset": {"list", "create", "delete", "ls", "up", "dn", "rm", "generate"},
        "training-job": {"list", "create", "describe", "wait"},
        "model": {"list", "create", "delete", "describe"},
        "endpoint": {"list", "create", "delete", "describe", "wait", "invoke"},
        "notebook": {"list", "create", "presigned-url", "describe", "delete", "stop", "start"},
        "repo": {"list", "create", "delete", "describe"},
    }
    paths = set(command_paths(PROGRAMS["ml2p"]))
    for name, subcommands in expected.items():
        assert (name,) in paths
        assert {(name, sub) for sub in subcommands} <= paths


def test_every_command_has_help_text():
    for prog, group in PROGRAMS.items():
        for path in command_paths(group):
            command = command_at(group, path)
            assert (command.help or command.short_help or "").strip(), " ".join((prog, *path))


# ---------------------------------------------------------------------------
# The built documentation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_is_in_the_hook_reference(built, hook):
    assert built.page_of(f"{hookspecs.__name__}.{hook}") == "hooks"


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_is_documented_completely(built, hook):
    params = list(inspect.signature(hookspec_functions()[hook]).parameters)
    assert description_problems(built, "hooks", f"{hookspecs.__name__}.{hook}", params) == []


def test_cli_page_documents_every_console_script(built):
    assert set(console_scripts()) <= section_names(built, "cli")


@pytest.mark.parametrize("prog", sorted(PROGRAMS))
def test_every_command_is_in_the_cli_reference(built, prog):
    """Every command has its section on the CLI page, every option and argument its entry."""
    group = PROGRAMS[prog]
    sections = section_names(built, "cli")
    options = {name for name, page in built.objects["std:cmdoption"].items() if page == "cli"}
    missing = []
    for path in [(), *command_paths(group)]:
        full = (prog, *path)
        if " ".join(full) not in sections:
            missing.append(" ".join(full))
        prefix = "-".join(full)
        info_name = full[-1]
        for name in option_names(command_at(group, path), info_name):
            if f"{prefix}.{name}" not in options:
                missing.append(f"{' '.join(full)} {name}")
    assert missing == []


def test_every_page_is_in_a_toctree(built):
    listed = toctree_pages(built)
    assert built.pages() - {"index"} <= listed, sorted(built.pages() - {"index"} - listed)
    assert {"serving", "hooks", "cli", "api", "changelog", "architecture"} <= listed


def test_architecture_page_shows_the_call_blocks_its_test_checks(built):
    """tests/test_architecture.py reads the MyST source: readers see the same blocks."""
    from tests.architecture_support import PAGE, read_page

    page = read_page(PAGE.read_text(encoding="utf-8"))
    shown = [block.strip() for block in code_blocks(built, "architecture", "text")]
    assert shown == [text.strip() for text in page.texts.values()]


def test_changelog_page_includes_the_changelog(built):
    assert (ROOT / "CHANGELOG.md").resolve() in sources(built, "changelog")


@pytest.mark.parametrize("cls", sorted(REFERENCE_API))
def test_api_page_documents_the_reference(built, cls):
    names = [f"ml2p.core.{cls}"] + [f"ml2p.core.{cls}.{m}" for m in REFERENCE_API[cls]]
    assert {name: built.page_of(name) for name in names} == {name: "api" for name in names}


@pytest.mark.parametrize("name", sorted(COMPAT_NAMES))
def test_api_page_documents_the_compat_names(built, name):
    assert built.page_of(f"ml2p.core.{name}") == "api"


def test_tutorial_model_generates_trains_and_predicts(built, tmp_path, monkeypatch):
    from ml2p import lifecycle
    from ml2p.core import Model, SageMakerEnv
    from ml2p.serving import bodies

    (source,) = code_blocks(built, "tutorial", "python")
    namespace: dict[str, object] = {"__name__": "tutorial_model"}
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


def test_plugin_quickstart_plugin_passes_its_own_tests(built, tmp_path):
    blocks = code_blocks(built, "plugin-quickstart", "python")
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
# Settings tables: the defaults the pages state are the code's
# ---------------------------------------------------------------------------


def _code_defaults() -> dict[str, str]:
    from ml2p.serving import settings
    from ml2p.serving.settings import ServerSettings

    def per_layout(values: dict[str, int]) -> str:
        return f"{values['object']} (object), {values['capture']} (capture)"

    return {
        "ML2P_SERVER_THREADS": str(ServerSettings.from_environ({}).threads),
        "ML2P_RECORD_BATCH_SIZE": str(settings.DEFAULT_BATCH_SIZE),
        "ML2P_RECORD_BATCH_BYTES": str(settings.DEFAULT_BATCH_BYTES),
        "ML2P_RECORD_BATCH_SECONDS": f"{settings.DEFAULT_BATCH_SECONDS:g}",
        "ML2P_RECORD_QUEUE_SIZE": per_layout(settings.DEFAULT_QUEUE_SIZE),
        "ML2P_RECORD_QUEUE_BYTES": str(settings.DEFAULT_QUEUE_BYTES),
        "ML2P_RECORD_WRITERS": per_layout(settings.DEFAULT_WRITERS),
        "ML2P_RECORD_KMS_KEY_ID": "none",
    }


@pytest.mark.parametrize("page", ["environment", "serving"])
@pytest.mark.parametrize("variable", sorted(_code_defaults()))
def test_settings_tables_state_the_code_defaults(built, page, variable):
    assert table_cell(built, page, variable, 1) == _code_defaults()[variable]
