"""``ml2p models``, ``ml2p plugins`` and ``ml2p validate``: what is installed and configured."""

from __future__ import annotations

import os
from typing import Any

import click

from ml2p.cli.context import Project, command_plugin_manager, pass_project
from ml2p.cli.output import echo_json
from ml2p.config import check_models

__all__ = ["models", "plugins", "validate"]


def _optional_cfg(prj: Project) -> Any | None:
    """The project config, or ``None`` if the (default) config file does not exist."""
    if not os.path.exists(prj.cfg_path):
        ctx = click.get_current_context()
        source = ctx.find_root().get_parameter_source("cfg")
        if source is not None and source.name != "DEFAULT":
            return prj.config  # Given explicitly: a missing file is an error.
        return None
    return prj.config


def _class_path(obj: Any) -> str | None:
    if obj is None:  # a model that names no class: its image names it
        return None
    if isinstance(obj, dict):
        return {name: _class_path(value) for name, value in obj.items()}  # type: ignore[return-value]
    return f"{obj.__module__}.{obj.__qualname__}"


@click.command("models")
@pass_project
def models(prj: Project) -> None:
    """List installed models (ml2p.models entry points) and the config's models."""
    from ml2p.plugins import MODEL_GROUP, installed_entry_points

    selected = installed_entry_points(MODEL_GROUP)
    installed = [
        {
            "name": info.name,
            "value": info.value,
            "distribution": info.dist,
            "version": info.version,
            "enabled": info.name in selected,
        }
        for info in sorted(
            installed_entry_points(MODEL_GROUP, selected_only=False).values(), key=lambda i: i.name
        )
    ]
    result: dict[str, Any] = {"installed": installed}
    cfg = _optional_cfg(prj)
    if cfg is not None:
        result["config"] = {"path": cfg.path, "models": cfg.models}
    echo_json(result)


@click.command("plugins")
@pass_project
def plugins(prj: Project) -> None:
    """List installed plugins (ml2p.plugins entry points) and the config's plugins, with hooks."""
    from ml2p.plugins import PLUGIN_GROUP, installed_entry_points

    cfg = _optional_cfg(prj)
    project_plugins = list(cfg.plugins) if cfg is not None else []
    pm = command_plugin_manager(project_plugins)
    installed: list[dict[str, Any]] = []
    for info in sorted(
        installed_entry_points(PLUGIN_GROUP, selected_only=False).values(), key=lambda i: i.name
    ):
        plugin = pm.get_plugin(info.name) if info.name in pm.entry_point_plugins else None
        installed.append(
            {
                "name": info.name,
                "value": info.value,
                "distribution": info.dist,
                "version": info.version,
                "loaded": plugin is not None,
                "hooks": pm.hooks_of(plugin) if plugin is not None else [],
            }
        )
    result: dict[str, Any] = {"installed": installed}
    if cfg is not None:
        result["project"] = [
            {"name": name, "hooks": pm.hooks_of(pm.get_plugin(name))} for name in project_plugins
        ]
    echo_json(result)


@click.command("validate")
@pass_project
def validate(prj: Project) -> None:
    """Load the config, import its plugins and resolve every model; print a summary."""
    from ml2p.plugins import resolve_model

    cfg = prj.config
    pm = prj.plugin_manager
    resolved = check_models(cfg, resolve_model)
    echo_json(
        {
            "config": cfg.path,
            "project": cfg.project,
            "s3folder": cfg.s3folder,
            "models": {name: _class_path(obj) for name, obj in resolved.items()},
            "plugins": {name: pm.hooks_of(pm.get_plugin(name)) for name in cfg.plugins},
            "warnings": list(cfg.warnings),
        }
    )
