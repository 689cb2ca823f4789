"""The installed distribution registers its entry point, and ML2P loads it."""

from __future__ import annotations

import ml2p_metrics.hooks

from ml2p.plugins import PLUGIN_GROUP, installed_entry_points, make_plugin_manager


def test_entry_point_is_installed():
    found = installed_entry_points(PLUGIN_GROUP, environ={})
    assert "ml2p-metrics" in found
    info = found["ml2p-metrics"]
    assert info.value == "ml2p_metrics.hooks"
    assert info.dist == "ml2p-metrics"
    assert info.load() is ml2p_metrics.hooks


def test_make_plugin_manager_loads_it_and_can_disable_it():
    pm = make_plugin_manager(environ={})
    assert pm.get_plugin("ml2p-metrics") is ml2p_metrics.hooks
    assert pm.hooks_of(ml2p_metrics.hooks) == [
        "ml2p_batch_result",
        "ml2p_generate",
        "ml2p_result",
        "ml2p_setup",
        "ml2p_train",
    ]
    pm = make_plugin_manager(environ={"ML2P_LOAD_PLUGINS": "some-other-plugin"})
    assert pm.get_plugin("ml2p-metrics") is None
