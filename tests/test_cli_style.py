"""``ml2p`` and ``ml2p-docker``: one click style.

Both are :class:`ml2p.cli.group.CommandGroup` groups: ``-h``/``--help`` and
``--version`` everywhere, errors reported one way, ``main(argv) -> int`` that
never raises ``SystemExit``; and no command module borrows a helper from
another command's module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Iterator

import click
import pytest

import ml2p.cli
from ml2p import __version__, docker
from ml2p.cli import BUILTIN_COMMANDS, cli
from ml2p.cli.group import CommandGroup, run
from ml2p.errors import ML2PError
from tests.cli_support import cli_runner

MAINS = {"ml2p": ml2p.cli.main, "ml2p-docker": docker.main}
GROUPS = {"ml2p": cli, "ml2p-docker": docker.cli}


def command_tree(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under ``group`` (built-in commands only)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from command_tree(command, (*path, name))


# -- bad input first ------------------------------------------------------


@pytest.mark.parametrize("prog", sorted(MAINS))
@pytest.mark.parametrize("args", [["no-such-command"], ["--no-such-option"]])
def test_usage_errors_return_2_from_main(prog, args, capsys):
    assert MAINS[prog](args) == 2
    err = capsys.readouterr().err
    assert "Error:" in err and f"Usage: {prog}" in err


@click.group(cls=CommandGroup)
def _toy() -> None:
    """A toy group."""


@_toy.command()
@click.argument("kind")
def fail(kind: str) -> None:
    if kind == "ml2p":
        raise ML2PError("the config names no model")
    if kind == "exit":
        raise SystemExit("a message for stderr")
    raise RuntimeError("boom")


@click.group(cls=docker.DockerGroup)
def _docker_toy() -> None:
    """A toy group with ml2p-docker's error policy."""


_docker_toy.add_command(fail)


def test_an_error_that_names_its_problem_is_one_line_with_status_1(capsys):
    for group in (_toy, _docker_toy):
        assert run(group, ["fail", "ml2p"], "toy") == 1
        assert capsys.readouterr().err == "Error: the config names no model\n"


def test_an_unexpected_error_is_one_line_in_ml2p(capsys):
    assert run(_toy, ["fail", "other"], "toy") == 1
    assert capsys.readouterr().err == (
        "Error: unexpected RuntimeError: boom (run with --debug for the traceback)\n"
    )


def test_an_unexpected_error_keeps_its_traceback_in_ml2p_docker():
    # Inside a container the job's log is where the traceback is needed.
    with pytest.raises(RuntimeError, match="boom"):
        run(_docker_toy, ["fail", "other"], "toy")


def test_sys_exit_with_a_message_prints_it_and_returns_1(capsys):
    assert run(_toy, ["fail", "exit"], "toy") == 1
    assert capsys.readouterr().err == "a message for stderr\n"


def test_ml2p_debug_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "missing.yml")
    assert ml2p.cli.main(["--cfg", missing, "validate"]) == 1
    with pytest.raises(FileNotFoundError):
        ml2p.cli.main(["--debug", "--cfg", missing, "validate"])


def test_ml2p_docker_without_a_model_is_a_one_line_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ML2P_MODEL_CLS", raising=False)
    assert docker.main(["--ml-folder", str(tmp_path), "train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: no model given: pass --model NAME")
    assert err.endswith(" or set ML2P_MODEL_CLS\n") and len(err.splitlines()) == 1


# -- the same options everywhere ------------------------------------------


@pytest.mark.parametrize("prog", sorted(GROUPS))
def test_version(prog, capsys):
    assert MAINS[prog](["--version"]) == 0
    assert capsys.readouterr().out == f"{prog}, version {__version__}\n"


@pytest.mark.parametrize("prog", sorted(GROUPS))
def test_h_is_help_on_every_command(prog):
    group = GROUPS[prog]
    paths = [(), *command_tree(group)]
    assert len(paths) > 3
    runner = cli_runner()
    for path in paths:
        short = runner.invoke(group, [*path, "-h"], prog_name=prog)
        long = runner.invoke(group, [*path, "--help"], prog_name=prog)
        assert short.exit_code == 0, (path, short.output)
        assert short.output == long.output
        assert short.output.startswith(f"Usage: {' '.join((prog, *path))} ")
        assert "-h, --help" in short.output


def test_main_is_the_console_scripts_function():
    import configparser
    import os

    from tests.serving_support import ROOT

    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    scripts = dict(
        (part.strip() for part in line.split("="))
        for line in parser["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    assert scripts == {"ml2p": "ml2p.cli:main", "ml2p-docker": "ml2p.docker:main"}
    for main in MAINS.values():
        assert inspect.signature(main).return_annotation in (int, "int")


# -- the context object ---------------------------------------------------


def test_ml2p_docker_commands_receive_its_options(tmp_path, monkeypatch):
    received: list[docker.DockerOptions] = []

    @click.group(cls=docker.DockerGroup)
    @click.option("--ml-folder")
    @click.option("--model")
    @click.pass_context
    def group(ctx, ml_folder, model):
        ctx.obj = docker.DockerOptions(ml_folder, model)

    @group.command()
    @docker.pass_options
    def show(options):
        received.append(options)

    assert run(group, ["--ml-folder", str(tmp_path), "--model", "m.M", "show"], "x") == 0
    assert received == [docker.DockerOptions(str(tmp_path), "m.M")]
    # The options are read-only, like the command line they come from.
    with pytest.raises(AttributeError):
        received[0].model = "other"  # type: ignore[misc]


# -- no command module borrows from another --------------------------------


def _cli_modules() -> dict[str, object]:
    names = [info.name for info in pkgutil.iter_modules(ml2p.cli.__path__)]
    return {f"ml2p.cli.{n}": importlib.import_module(f"ml2p.cli.{n}") for n in names}


def _command_families() -> dict[str, set[str]]:
    """Each module that defines commands -> the modules of the top-level command it is part of."""
    families: dict[str, set[str]] = {}
    for name in BUILTIN_COMMANDS:
        top = cli.get_command(click.Context(cli), name)
        members = {top.callback.__module__}
        stack = [top]
        while stack:
            command = stack.pop()
            members.add(inspect.unwrap(command.callback).__module__)
            if isinstance(command, click.Group):
                stack.extend(command.commands.values())
        for module in members:
            families.setdefault(module, set()).update(members)
    return families


def _imported(module: object) -> set[str]:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_family_reader_groups_sub_command_modules():
    families = _command_families()
    assert families["ml2p.cli.endpoints"] >= {"ml2p.cli.endpoints", "ml2p.cli.endpoint_scaling"}
    assert "ml2p.cli.training_jobs_scaling" in families["ml2p.cli.jobs"]
    assert "ml2p.cli.local" not in families["ml2p.cli.predictions"]


def test_command_modules_import_no_other_commands_module():
    families = _command_families()
    modules = _cli_modules()
    borrowed = sorted(
        (name, other)
        for name in families
        for other in _imported(modules[name]) & set(families)
        if other not in families[name]
    )
    assert borrowed == []


def _names_taken_from_cli_modules(source: str) -> dict[str, set[str]]:
    """The names a module's ``source`` takes from other ``ml2p.cli`` modules: module -> {name, ...}.

    Both ways: ``from ml2p.cli.X import a`` (X -> a), and importing the module
    itself (``from ml2p.cli import X``, ``import ml2p.cli.X [as Y]``) then using
    its attribute ``X.a`` (X -> a).
    """
    tree = ast.parse(source)
    found: dict[str, set[str]] = {}
    # How the module refers to each ml2p.cli module it imports whole: dotted name -> module.
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ml2p.cli":
            for alias in node.names:
                bound[alias.asname or alias.name] = f"ml2p.cli.{alias.name}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ml2p.cli."):
            found.setdefault(node.module or "", set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ml2p.cli."):
                    bound[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = bound.get(ast.unparse(node.value))
            if owner is not None:
                found.setdefault(owner, set()).add(node.attr)
    return found


def test_the_name_reader_sees_every_way_of_taking_a_name():
    source = textwrap.dedent(
        """
        import ml2p.cli.b
        import ml2p.cli.c as see
        from ml2p.cli import d, e as eh
        from ml2p.cli.a import one, two

        ml2p.cli.b.three(see.four, d.five, eh.six)
        """
    )
    assert _names_taken_from_cli_modules(source) == {
        "ml2p.cli.a": {"one", "two"},
        "ml2p.cli.b": {"three"},
        "ml2p.cli.c": {"four"},
        "ml2p.cli.d": {"five"},
        "ml2p.cli.e": {"six"},
    }


def test_command_modules_take_only_commands_from_each_other():
    # Shared helpers live in helper modules (params, output, local_support, ...): a
    # command module that borrowed them from a sibling would import that sibling,
    # and the two could then no longer be imported in either order.
    families = _command_families()
    modules = _cli_modules()
    borrowed = sorted(
        (name, f"{other}.{attr}")
        for name in families
        for other, attrs in _names_taken_from_cli_modules(inspect.getsource(modules[name])).items()
        if other in families and other != name
        for attr in attrs
        if not isinstance(getattr(modules[other], attr), click.Command)
    )
    assert borrowed == []


@pytest.mark.parametrize("name", sorted(_cli_modules()))
def test_every_cli_module_imports_first_on_its_own(name):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_every_command_receives_the_project_through_pass_project():
    # One way to the command object: pass_project, which also accepts a custom
    # group's plain ModellingProject or no object at all (see ml2p.cli.context).
    ctx = click.Context(cli)
    through_click = []
    for path in command_tree(cli):
        command: click.Command = cli
        for name in path:
            command = command.get_command(ctx, name)  # type: ignore[attr-defined]
        if command.callback is not None:
            filename = command.callback.__code__.co_filename
            if filename == click.decorators.__file__:
                through_click.append(" ".join(path))
    assert through_click == []
