"""The installed distribution registers its entry point, and ML2P loads it."""

from __future__ import annotations

import ml2p_record_ids.hooks

from ml2p.plugins import PLUGIN_GROUP, installed_entry_points, make_plugin_manager


def test_entry_point_is_installed():
    found = installed_entry_points(PLUGIN_GROUP, environ={})
    assert "ml2p-record-ids" in found
    info = found["ml2p-record-ids"]
    assert info.value == "ml2p_record_ids.hooks"
    assert info.dist == "ml2p-record-ids"
    assert info.load() is ml2p_record_ids.hooks


def test_make_plugin_manager_loads_it_and_can_disable_it():
    pm = make_plugin_manager(environ={})
    assert pm.get_plugin("ml2p-record-ids") is ml2p_record_ids.hooks
    assert pm.hooks_of(ml2p_record_ids.hooks) == ["ml2p_record_invoke_id", "ml2p_setup"]
    pm = make_plugin_manager(environ={"ML2P_DISABLE_PLUGINS": "ml2p-record-ids"})
    assert pm.get_plugin("ml2p-record-ids") is None
