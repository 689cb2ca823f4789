"""The installed distribution registers its entry point, and ML2P loads it."""

from __future__ import annotations

import ml2p_validate.hooks

from ml2p.plugins import PLUGIN_GROUP, installed_entry_points, make_plugin_manager


def test_entry_point_is_installed():
    found = installed_entry_points(PLUGIN_GROUP, environ={})
    assert "ml2p-validate" in found
    info = found["ml2p-validate"]
    assert info.value == "ml2p_validate.hooks"
    assert info.dist == "ml2p-validate"
    assert info.load() is ml2p_validate.hooks


def test_make_plugin_manager_loads_it_and_can_disable_it():
    pm = make_plugin_manager(environ={})
    assert pm.get_plugin("ml2p-validate") is ml2p_validate.hooks
    assert pm.hooks_of(ml2p_validate.hooks) == ["ml2p_batch_result", "ml2p_result", "ml2p_setup"]
    pm = make_plugin_manager(environ={"ML2P_DISABLE_PLUGINS": "ml2p-validate"})
    assert pm.get_plugin("ml2p-validate") is None
