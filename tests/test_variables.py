"""Every ``ML2P_*`` and ``SAGEMAKER_*`` variable is named in ml2p.variables, and only there.

What counts as spelling a variable out: a string constant of the package's
code (docstrings and other bare string statements are documentation, not
code) that holds ``ML2P_`` or ``SAGEMAKER_`` followed by capitals, digits or
underscores, on its own or inside a longer string (a message must interpolate
the name: ``f"{ML2P_S3_URL} is not set"``). Other modules import the names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ml2p import variables
from ml2p.core import S3URL, SageMakerEnv

PACKAGE = Path(variables.__file__).parent
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])(?:ML2P|SAGEMAKER)_[A-Z0-9_]*")

#: Modules being rewritten on another branch, to switch to ml2p.variables when it
#: lands (the test fails once one no longer needs to be here).
PENDING: dict[str, str] = {}


def _documentation(tree: ast.AST) -> set:
    """The ids of the string constants that are bare statements (docstrings and the like)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def spelled_out(source: str) -> list[str]:
    """Return ``line: variable`` for each variable name spelled out in the code of ``source``."""
    tree = ast.parse(source)
    documentation = _documentation(tree)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in documentation
        ):
            found += [f"{node.lineno}: {name}" for name in VARIABLE.findall(node.value)]
    return sorted(found)


def spelled_out_by_module() -> dict[str, list[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module != "variables.py":
            names = spelled_out(path.read_text(encoding="utf-8"))
            if names:
                found[module] = names
    return found


# -- the scan finds what it should -------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'x = environ.get("ML2P_S3_URL")\n',
        'env = {"SAGEMAKER_BIND_TO_PORT": "8080"}\n',
        'raise ValueError("cannot record: ML2P_S3_URL is not set")\n',
        'message = f"ML2P_RECORD_SPILL={kind!r} is wrong"\n',
        'keep = [k for k in env if not k.startswith(("ML2P_", "SAGEMAKER_"))]\n',
        'def f():\n    """Doc."""\n    return "ML2P_NEW_ONE"\n',
    ],
)
def test_scan_finds_a_spelled_out_variable(source):
    assert spelled_out(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Reads ``ML2P_S3_URL``."""\nx = environ.get(ML2P_S3_URL)\n',
        'def f():\n    """Set ML2P_DATASET first."""\n',
        'class C:\n    """``SAGEMAKER_BIND_TO_PORT``."""\n',
        'message = f"{ML2P_S3_URL} is not set"\n',
        'name = "ml2p_s3_url" + "XML2P_Y"\n',
    ],
)
def test_scan_leaves_documentation_and_names_alone(source):
    assert spelled_out(source) == []


# -- the package --------------------------------------------------------------------


def test_no_module_spells_out_a_variable():
    found = {m: names for m, names in spelled_out_by_module().items() if m not in PENDING}
    assert found == {}, "name these variables in ml2p.variables and import them: " + "; ".join(
        f"{module}: {', '.join(names)}" for module, names in found.items()
    )


@pytest.mark.parametrize("module", sorted(PENDING))
def test_pending_modules_are_still_pending(module):
    assert spelled_out_by_module().get(module), (
        f"{module} no longer spells out variables: remove it from PENDING"
    )


def test_each_name_is_its_variable():
    names = {
        name: value
        for name, value in vars(variables).items()
        if VARIABLE.fullmatch(name) and not name.endswith("_PREFIX")
    }
    assert len(names) > 20
    for name, value in names.items():
        assert value == name
    assert (variables.ML2P_PREFIX, variables.SAGEMAKER_PREFIX) == ("ML2P_", "SAGEMAKER_")
    assert all(name.startswith(("ML2P_", "SAGEMAKER_")) for name in names)


def test_env_settings_are_what_sagemaker_env_reads(tmp_path):
    values = {
        "dataset_name": "ds-20240101",
        "training_job_name": "p-job-1",
        "model_version": "p-model-1-0-0",
        "record_invokes": "true",
        "project": "p",
        "model_cls": "tests.models.MinimalModel",
        "s3_url": "s3://bucket/prefix/",
    }
    assert set(variables.ENV_SETTINGS) == set(values)
    for setting, variable in variables.ENV_SETTINGS.items():
        env = SageMakerEnv(tmp_path, {variable: values[setting]})
        read = getattr(env, "s3" if setting == "s3_url" else setting)
        expected = {"record_invokes": True, "s3_url": S3URL(values["s3_url"])}.get(
            setting, values[setting]
        )
        assert read == expected, setting
    empty = SageMakerEnv(tmp_path, {})
    assert (empty.dataset_name, empty.model_cls, empty.record_invokes) == (None, None, False)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"V": ""}, []),
        ({"V": " a, ,b ,"}, ["a", "b"]),
        ({"V": "pkg.mod"}, ["pkg.mod"]),
    ],
)
def test_names_in(environ, expected):
    assert variables.names_in(environ, "V") == expected
