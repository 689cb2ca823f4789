"""The record format has one home, ``ml2p.record_format``; its names stay where they were."""

from __future__ import annotations

import importlib

import pytest

from ml2p import plugins, record_format
from ml2p.core import SageMakerEnv
from ml2p.errors import ConfigError
from ml2p.recording import Destination, RecordingPlan
from ml2p.records import RecordReader
from tests.models import MinimalPredictor

#: Where each name of the format was importable before it moved: the same object there.
FORMERLY = {
    "ml2p.records.capture": [
        "CAPTURE_FOLDER",
        "EVENT_VERSION",
        "CaptureEvent",
        "CaptureFormatError",
        "build_line",
        "capture_encoding",
        "capture_key",
        "capture_prefix",
        "default_variant",
        "derived_ids",
        "hour_folder",
        "read_line",
    ],
    "ml2p.records": ["CaptureFormatError", "LAYOUTS"],
    "ml2p.records.times": ["posix_time"],
    "ml2p.serving.settings": ["CAPTURE", "LAYOUTS", "OBJECT", "check_layout"],
    "ml2p.recording": ["CAPTURE", "LAYOUTS", "OBJECT"],
}


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for module, names in FORMERLY.items() for name in names],
)
def test_a_moved_name_is_still_importable_from_where_it_was(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(record_format, name)
    assert name in importlib.import_module(module).__all__


@pytest.mark.parametrize("name", ["CSV", "JSON", "JSONLINES_TYPES", "media_type"])
def test_the_server_reads_bodies_by_the_same_media_types(name):
    from ml2p import media_types
    from ml2p.serving import bodies

    assert getattr(bodies, name) is getattr(media_types, name)


@pytest.mark.parametrize(
    ("environ", "layout"),
    [
        ({}, "object"),
        ({"ML2P_RECORD_LAYOUT": ""}, "object"),
        ({"ML2P_RECORD_LAYOUT": " Capture "}, "capture"),
        ({"ML2P_RECORD_LAYOUT": "OBJECT"}, "object"),
    ],
)
def test_layout_from_environ(environ, layout):
    assert record_format.layout_from_environ(environ) == layout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("objects", r"ML2P_RECORD_LAYOUT 'objects' is not one of object, capture"),
        ("batched", r"ML2P_RECORD_LAYOUT 'batched' is no longer supported: use 'capture'"),
    ],
)
def test_layout_from_environ_names_the_variable_of_a_bad_layout(value, message):
    with pytest.raises(ConfigError, match=message):
        record_format.layout_from_environ({"ML2P_RECORD_LAYOUT": value})


def _predictor(tmp_path, **extra):
    environ = {
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_S3_URL": "s3://ml2p-test/proj/",
        "ML2P_MODEL_VERSION": "mv-1-0-0",
        **extra,
    }
    return MinimalPredictor(
        SageMakerEnv(tmp_path, environ),
        plugin_manager=plugins.make_plugin_manager(load_entry_points=False),
    )


def test_a_predictor_records_in_the_layout_and_with_the_key_of_its_environment(tmp_path):
    plan = RecordingPlan(
        _predictor(tmp_path, ML2P_RECORD_LAYOUT="capture", ML2P_RECORD_KMS_KEY_ID=" key-1 ")
    )
    assert (plan.layout, plan.kms_key_id) == ("capture", "key-1")
    plan = RecordingPlan(_predictor(tmp_path))
    assert (plan.layout, plan.kms_key_id) == ("object", None)


def test_a_predictor_refuses_a_bad_layout_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="ML2P_RECORD_LAYOUT 'jsonl' is not one of"):
        RecordingPlan(_predictor(tmp_path, ML2P_RECORD_LAYOUT="jsonl"))


def test_the_writer_and_the_reader_agree_on_the_folders_of_a_model_version():
    destination = Destination("ml2p-test", "proj/", "mv-1-0-0")
    reader = RecordReader("s3://ml2p-test/proj/", "mv-1-0-0")
    assert destination.object_folder == reader.object_folder == "proj/predictions/mv-1-0-0/"
    # The writer's folder is the default variant's, below the reader's (all variants).
    assert destination.capture_folder == "proj/predictions/capture/mv-1-0-0/mv-1-0-0-variant-1/"
    assert destination.capture_folder.startswith(reader.capture_folder)
