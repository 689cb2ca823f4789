"""A project plugin whose train wrapper fails: the failure must name it."""

from __future__ import annotations

from ml2p import hookimpl


@hookimpl
def ml2p_train(trainer):
    raise ValueError("plugin refused to train")
