"""The one list of deliberate differences between this ML2P and ML2P 0.6.0.

This ML2P matches 0.6.0 name for name and behaviour for behaviour, except where
0.6.0 loses data, hides a failure or is unsafe, where the library reference
says otherwise, or where 0.6.0 has a defect that the project's design document
lists as not to be repeated. Each such difference is one :class:`Allowed`
entry here: where it shows (``scenario:observation`` patterns), a check that
the difference is exactly the documented one, and why. ``docs/migration.md``
documents exactly this list (``compat/test_migration_doc.py`` checks that
its ids match this list's). Anything else that differs fails the suite.

:data:`NOT_COMPARABLE` lists what the suite cannot run through both packages,
and why.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

#: Why a difference is allowed.
LOSES_DATA = "0.6 loses data"
HIDES_FAILURE = "0.6 hides a failure"
UNSAFE = "0.6 is unsafe"
REFERENCE = "the library reference says otherwise"
DEFECT = "a 0.6 defect the design says not to repeat"
KINDS = (LOSES_DATA, HIDES_FAILURE, UNSAFE, REFERENCE, DEFECT)

ABSENT = "<absent>"


@dataclasses.dataclass(frozen=True)
class Allowed:
    """A deliberate difference.

    :param id: A short stable name; ``docs/migration.md`` names it.
    :param where: ``scenario:path`` patterns (fnmatch) of the observations it explains.
    :param kind: One of :data:`KINDS`.
    :param summary: What differs, in a sentence.
    :param reason: Why, in a sentence or two.
    :param check: ``check(v060, ours)`` must hold for a difference to be allowed.
    """

    id: str
    where: tuple[str, ...]
    kind: str
    summary: str
    reason: str
    check: Callable[[Any, Any], bool] | None = None

    @property
    def scenarios(self) -> list[str]:
        return sorted({pattern.split(":", 1)[0] for pattern in self.where})


@dataclasses.dataclass(frozen=True)
class NotComparable:
    """Something the suite cannot run through both packages, and why."""

    id: str
    what: str
    reason: str


# ---------------------------------------------------------------- checks


def _raises(*classes: str) -> Callable[[Any, Any], bool]:
    """Check: 0.6 did not raise; ours raises one of ``classes`` (qualified names)."""

    def check(old: Any, new: Any) -> bool:
        if isinstance(old, dict) and "$exc" in old:
            return False
        return (
            isinstance(new, dict)
            and "$exc" in new
            and any(c in new["$exc"]["_mro"] for c in classes)
        )

    return check


def _becomes(old_value: Any, new_value: Any) -> Callable[[Any, Any], bool]:
    return lambda old, new: old == old_value and new == new_value


def _batch_list(old: Any, new: Any) -> bool:
    return isinstance(old, dict) and list(old) == ["predictions"] and old["predictions"] == new


def _records_folder_only(old: Any, new: Any) -> bool:
    """0.6 downloaded a sibling dataset's file (under ``1/``); ours does not."""
    return old != ABSENT and new == ABSENT


def _safe_record_key(old: Any, new: Any) -> bool:
    return (
        isinstance(old, str)
        and isinstance(new, str)
        and "/../" in old
        and ".." not in new.split("/")
        and old.rsplit("/", 1)[0].split("/path-")[0] == new.rsplit("/", 1)[0].split("/path-")[0]
    )


SIBLING = "compat-projx"
_NAME_KEYS = ("TrainingJobName", "ModelName", "EndpointName", "NotebookInstanceName")


def _without_sibling(old: Any, new: Any) -> bool:
    """Ours lists exactly what 0.6 lists, minus the sibling project's resources."""

    def name(doc: Any) -> str:
        return next((doc[k] for k in _NAME_KEYS if k in doc), "")

    if not isinstance(old, list) or not isinstance(new, list):
        return False
    kept = [doc for doc in old if not name(doc).startswith(SIBLING + "-")]
    return len(kept) < len(old) and kept == new


def _project_tag_added(old: Any, new: Any) -> bool:
    return old == ABSENT and new == [{"Key": "ml2p-project", "Value": "compat-proj"}]


def _refused_early(old: Any, new: Any) -> bool:
    """Ours refused the notebook before making anything; 0.6 made it (moto accepts it)."""
    if old == 0:
        return new == 1
    if isinstance(old, dict) and "$exc" not in old:  # the request, or what 0.6 made
        if isinstance(new, dict) and "$exc" in new:
            return "ml2p.errors.ConfigError" in new["$exc"]["catchable"]
        return new == ABSENT
    return isinstance(old, list) and new == []


def _html_to_json(old: Any, new: Any) -> bool:
    if old == "text/html":
        return new == "application/json"
    return old is None and isinstance(new, dict) and isinstance(new.get("message"), str)


def _failure_written(old: Any, new: Any) -> bool:
    """0.6 wrote no output/failure (or failed writing it); ours wrote it."""
    if old is False:
        return new is True
    if isinstance(old, dict) and "$exc" in old:  # write_failure without an output folder
        return new == {"raised": False}
    if old == ABSENT and new == "<empty folder>":  # the output folder ours made for it
        return True
    return old == ABSENT and isinstance(new, str) and bool(new)


def _printed_once(old: Any, new: Any) -> bool:
    """0.6 had two stdout handlers (so printed each line twice); ours has one.

    Counts (of handlers, of times a line was printed) are 2 against 1; the
    printed lines are 0.6's, each once instead of twice.
    """
    if isinstance(old, list) and isinstance(new, list):
        return bool(new) and old == [line for line in new for _ in (1, 2)]
    return old == 2 and new == 1


def _model_cls_kept(old: Any, new: Any) -> bool:
    return old is None and isinstance(new, str) and bool(new)


def _without_werkzeug(old: Any, new: Any) -> bool:
    """Ours is caught by every except clause that caught 0.6's, but Werkzeug's."""
    return set(old["$class"]["catchable"]) - set(new["$class"]["catchable"]) == {
        "werkzeug.exceptions.HTTPException"
    }


_RECORDING_COUNTS = ("queued", "on_disk", "written", "spilled", "unwritten", "lost")


def _ping_addition(old: Any, new: Any) -> bool:
    """A key 0.6's ``/ping`` lacked: ``status`` ``ok``, or the recorder's statistics.

    0.6's own keys (``model_version``, ``ml2p_version``) are not under this
    entry's paths: any difference in them stays unexpected.
    """
    if old != ABSENT:
        return False
    if new == "ok":
        return True
    return (
        isinstance(new, dict)
        and set(new) == {"s3", *_RECORDING_COUNTS}
        and new["s3"] in ("ok", "failing")
        and all(isinstance(new[k], int) and new[k] >= 0 for k in _RECORDING_COUNTS)
    )


def _both_text(old: Any, new: Any) -> bool:
    return isinstance(old, str) and isinstance(new, str) and old != new


# ---------------------------------------------------------------- the list

ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        id="batch-invoke-returns-a-list",
        where=(
            "scn_records:default/batch_invoke",
            "scn_records:default/batch_invoke-empty",
            "scn_records:override/record_invoke/batch_invoke",
            "scn_records:override/record_invoke_id/batch",
            "scn_model06:tests/outcomes/test_batch_invoke",
        ),
        kind=REFERENCE,
        summary=(
            "ModelPredictor.batch_invoke returns a list of {metadata, result} dictionaries; "
            "0.6 returned {'predictions': [...]}. A 0.6 test that reads "
            "batch_invoke(...)['predictions'] fails."
        ),
        reason=(
            "The library reference documents batch_invoke as returning a list. Over HTTP "
            "a batch is still answered with {'predictions': [...]}."
        ),
        check=lambda old, new: _batch_list(old, new) or (old == "passed" and new == "failure"),
    ),
    Allowed(
        id="metadata-timestamp-is-utc",
        where=("scn_records:timestamp/host-east-of-utc/is-now",),
        kind=REFERENCE,
        summary=(
            "The metadata timestamp is the current POSIX time whatever the host's time "
            "zone; 0.6 was off by the host's UTC offset on hosts not set to UTC."
        ),
        reason="The library reference says it is the UTC POSIX timestamp in seconds.",
        check=_becomes(False, True),
    ),
    Allowed(
        id="unsafe-paths-are-refused",
        where=(
            "scn_library:local-env/download_model-escaping-member",
            "scn_library:local-env/escaping-member-written-outside",
            "scn_library:local-env/download_dataset-escaping-key",
            "scn_library:local-env/escaping-key-written-outside",
        ),
        kind=UNSAFE,
        summary=(
            "LocalEnv.download_model and download_dataset raise UnsafePathError, writing "
            "nothing, for a model.tar.gz member or an S3 key that would land outside its "
            "folder; 0.6 wrote the file there."
        ),
        reason="0.6 let a crafted archive or S3 key overwrite any file the user can write.",
        check=lambda old, new: (
            _raises("ml2p.errors.UnsafePathError")(old, new) or (old is True and new is False)
        ),
    ),
    Allowed(
        id="dataset-names-are-folders",
        where=("scn_library:local-env/dataset-files/data/training/1/*",),
        kind=UNSAFE,
        summary=(
            "LocalEnv.download_dataset('ds-20260101') downloads that dataset's folder only; "
            "0.6 also downloaded every dataset whose name merely starts with it "
            "(ds-202601011) into the training data."
        ),
        reason="0.6 silently mixed another dataset's files into the training data.",
        check=_records_folder_only,
    ),
    Allowed(
        id="record-ids-are-safe-s3-keys",
        where=("scn_records:override/unsafe-id/new-keys[[]0[]]",),
        kind=UNSAFE,
        summary=(
            "A record id part that would make an unsafe S3 key ('/', '..', control "
            "characters) is sanitised; ordinary values are kept as the model returned them."
        ),
        reason=(
            "0.6 put such parts in the key as they were, so a request could choose where "
            "its record is written under the bucket."
        ),
        check=_safe_record_key,
    ),
    Allowed(
        id="record-ids-fit-s3-keys",
        where=("scn_records:override/long-id/fits-s3[[]0[]]",),
        kind=LOSES_DATA,
        summary=(
            "A record id too long for an S3 key (1024 bytes) is cut and ends with a hash; "
            "0.6 used it as it was."
        ),
        reason="S3 refuses such a key: 0.6 lost the record and failed the prediction with it.",
        check=_becomes(False, True),
    ),
    Allowed(
        id="listings-show-only-the-project",
        where=("scn_cli:cli/9[5-8]: *list/stdout", "scn_library:requests/mk_repo/Tags"),
        kind=UNSAFE,
        summary=(
            "ml2p training-job/model/endpoint/notebook list show the resources tagged with "
            "the project; 0.6 showed every resource whose name starts with the project "
            "name, so project foo listed project foo-bar's resources. Code repositories "
            "are tagged too (0.6 left them untagged), so that they are listed."
        ),
        reason="Scripts that act on a listing (clean-ups) would act on another project.",
        check=lambda old, new: _without_sibling(old, new) or _project_tag_added(old, new),
    ),
    Allowed(
        id="notebook-without-subnet-is-refused",
        where=(
            "scn_cli:cli/99: *",
            "scn_cli:final/sagemaker/*/compat-proj-nb4*",
            "scn_library:requests/mk_notebook/no-subnet",
        ),
        kind=HIDES_FAILURE,
        summary=(
            "ml2p notebook create (and mk_notebook) refuse, with a ConfigError naming "
            "notebook.direct_internet_access, a notebook whose direct internet access is "
            "disabled (0.6's default) without a subnet_id, before creating anything."
        ),
        reason=(
            "SageMaker refuses such a notebook; 0.6 reported it only as SageMaker's error, "
            "after creating the notebook's lifecycle configuration, which it left behind."
        ),
        check=_refused_early,
    ),
    Allowed(
        id="unexpected-errors-are-json",
        where=("scn_http:http/key-error/content-type", "scn_http:http/key-error/json"),
        kind=HIDES_FAILURE,
        summary=(
            "A predictor's unexpected exception is answered with status 500 and a JSON "
            "body; 0.6 answered Flask's HTML error page."
        ),
        reason=(
            "A JSON client cannot read the HTML page; the traceback goes to the log, and "
            "the server keeps serving."
        ),
        check=_html_to_json,
    ),
    Allowed(
        id="ping-reports-readiness-and-recording",
        where=(
            "scn_http:http/ping/json/status",
            "scn_http:http/ping/json/recording",
            "scn_http:http/ping-after-errors/json/status",
            "scn_http:http/ping-after-errors/json/recording",
            "scn_model06:serve/ping/json/status",
            "scn_model06:serve/ping/json/recording",
        ),
        kind=HIDES_FAILURE,
        summary=(
            "/ping answers 0.6's model_version and ml2p_version, plus 'status' ('ok'; 503 "
            "with 'starting' or 'failed' until the model is set up) and, when recording, "
            "'recording': how many records are queued, written, spilled, unwritten or lost."
        ),
        reason=(
            "A failed model setup ended 0.6's server, so SageMaker saw only that /ping did "
            "not answer, not why; records backing up gave no sign at all."
        ),
        check=_ping_addition,
    ),
    Allowed(
        id="errors-name-the-problem",
        where=(
            "scn_http:http/malformed-json/json/message",
            "scn_http:http/empty-body/json/message",
            "scn_http:http/unknown-path/json/message",
            "scn_http:http/get-invocations/json/message",
        ),
        kind=HIDES_FAILURE,
        summary=(
            "Error answers keep 0.6's status codes and JSON 'message' key, but the message "
            "says what is wrong (the JSON error, the path, the method) instead of "
            "Werkzeug's generic text."
        ),
        reason="0.6's generic messages hide what the caller has to fix.",
        check=_both_text,
    ),
    Allowed(
        id="model-type-is-checked-without-models",
        where=("scn_library:requests/validate_model_type/no-models",),
        kind=HIDES_FAILURE,
        summary=(
            "--model-type naming a model when ml2p.yml defines no models is a usage error "
            "that says no models are defined; 0.6 accepted the name and then failed with a "
            "KeyError traceback when it looked the model up."
        ),
        reason="0.6's KeyError does not say that the models section of ml2p.yml is missing.",
        check=_raises("click.exceptions.UsageError"),
    ),
    Allowed(
        id="failure-reason-always-written",
        where=(
            "scn_docker:train/failing-without-output-folder/failure/*",
            "scn_docker:train/failing-without-output-folder/files/output/",
            "scn_docker:train/import-error/failure/*",
            "scn_library:sagemaker-env/write_failure-no-output-folder",
        ),
        kind=HIDES_FAILURE,
        summary=(
            "ml2p-docker writes output/failure whenever a job fails, also when the model "
            "cannot be imported or the output folder is missing (write_failure makes the "
            "folder); 0.6 wrote nothing then."
        ),
        reason="SageMaker shows output/failure as the job's FailureReason; 0.6 left it empty.",
        check=_failure_written,
    ),
    Allowed(
        id="empty-dataset-download-is-an-error",
        where=(
            "scn_library:local-env/download_dataset-empty",
            "scn_library:local-env/download_dataset-missing",
        ),
        kind=HIDES_FAILURE,
        summary=(
            "LocalEnv.download_dataset raises an error naming the S3 folder when the "
            "dataset has no files; 0.6 returned and left the training folder empty."
        ),
        reason="0.6 let a typo in a dataset name train on nothing without a word.",
        check=_raises("ml2p.errors.ML2PError", "ml2p.errors.LocalEnvError"),
    ),
    Allowed(
        id="failed-download-keeps-the-local-file",
        where=("scn_cli:cli/12-local-file-left",),
        kind=LOSES_DATA,
        summary=(
            "ml2p dataset dn of a missing file leaves the destination as it was; 0.6 "
            "created (or emptied) the destination before finding the file missing."
        ),
        reason="0.6 truncated an existing local file when the download failed.",
        check=_becomes(True, False),
    ),
    Allowed(
        id="record-invokes-in-any-case",
        where=(
            "scn_library:sagemaker-env/record_invokes/'True'",
            "scn_library:sagemaker-env/record_invokes/'TRUE'",
        ),
        kind=LOSES_DATA,
        summary=(
            "ML2P_RECORD_INVOKES=True (any case of 'true') turns recording on; 0.6 "
            "recorded only for the exact text 'true'."
        ),
        reason="0.6 silently recorded nothing for a model deployed with 'True'.",
        check=_becomes(False, True),
    ),
    Allowed(
        id="config-is-not-changed-by-requests",
        where=(
            "scn_library:requests/config-reused/model/Containers[[]*[]]/Environment/ML2P_MODEL_CLS",
            "scn_library:requests/config-reused/config-after/multi/model-defaults",
        ),
        kind=LOSES_DATA,
        summary=(
            "Building a SageMaker request (mk_training_job, mk_model, ...) leaves the "
            "project's configuration as it was; 0.6 removed a multi-container model's "
            "model-defaults from it, so the next request from the same project lost "
            "ML2P_MODEL_CLS."
        ),
        reason="0.6 lost the model class of the second request built from one project.",
        check=lambda old, new: _model_cls_kept(old, new) or (old == ABSENT and new != ABSENT),
    ),
    Allowed(
        id="log-lines-are-printed-once",
        where=(
            "scn_library:logging/*/stdout-handlers",
            "scn_library:logging/*/times-printed",
            "scn_library:logging/*/lines",
        ),
        kind=DEFECT,
        summary=(
            "setup_logging() adds its stdout handler once; 0.6 added one per call, and "
            "every trainer, predictor and generator calls it, so each log line was "
            "repeated once per object made."
        ),
        reason="Duplicate log handlers are a 0.6 defect the design lists.",
        check=_printed_once,
    ),
    Allowed(
        id="empty-listings-are-not-errors",
        where=(
            "scn_cli:cli/02: ml2p dataset list/exit",
            "scn_cli:cli/16: ml2p dataset ls single-20991231/exit",
            "scn_cli:cli/19: ml2p dataset delete single-20991231/exit",
        ),
        kind=DEFECT,
        summary=(
            "ml2p dataset list, ls and delete succeed (printing or deleting nothing) for "
            "no datasets or an empty dataset; 0.6 failed with a KeyError traceback."
        ),
        reason="The KeyError on empty datasets is a 0.6 defect the design lists.",
        check=_becomes(1, 0),
    ),
    Allowed(
        id="s3-urls-are-checked",
        where=("scn_library:s3url/http:*", "scn_library:s3url/bucket*"),
        kind=HIDES_FAILURE,
        summary=(
            "S3URL raises an error for a URL that is not s3://bucket/...; 0.6 accepted it "
            "and built wrong keys or an empty bucket name from it."
        ),
        reason="0.6 turned a typo in s3folder into failures far from its cause.",
        check=_raises("ml2p.errors.ML2PError", "ml2p.errors.ConfigError"),
    ),
    Allowed(
        id="no-flask",
        where=("scn_library:names/ml2p.docker.app", "scn_library:errors/*/class"),
        kind=UNSAFE,
        summary=(
            "There is no Flask app ml2p.docker.app, and APIError no longer derives from "
            "Werkzeug's HTTPException: the server is gunicorn with uvicorn workers. Tests "
            "that drove a predictor through Flask's test client drive ML2P's server instead."
        ),
        reason="0.6 served predictions with Flask's development server, not made for production.",
        check=lambda old, new: (
            _raises("builtins.AttributeError")(old, new) or _without_werkzeug(old, new)
        ),
    ),
)

NOT_COMPARABLE: tuple[NotComparable, ...] = (
    NotComparable(
        id="code-repositories",
        what=(
            "ml2p repo list, repo describe, and notebook create with repo_url: compared by "
            "exit code and by the resources made before the first code repository call"
        ),
        reason="moto has no SageMaker code repository API.",
    ),
    NotComparable(
        id="presigned-url",
        what="ml2p notebook presigned-url: compared by exit code only",
        reason="moto has no CreatePresignedNotebookInstanceUrl.",
    ),
    NotComparable(
        id="endpoint-invoke-answer",
        what=(
            "ml2p endpoint invoke: compared by its printed response to a canned answer; "
            "real answers are compared through the servers themselves (scn_http)"
        ),
        reason="moto's sagemaker-runtime answers a configured body, not a model's.",
    ),
    NotComparable(
        id="waiting",
        what=(
            "training-job wait and endpoint wait: compared when the job or endpoint is "
            "already done; how long and how often each package polls is not compared"
        ),
        reason="moto's training jobs complete and its endpoints are in service at once.",
    ),
    NotComparable(
        id="v060-server-process",
        what=(
            "ML2P 0.6.0's server process (threads, shutdown, teardown on SIGTERM): its Flask "
            "app is driven through Flask's test client, ours through the real server"
        ),
        reason="0.6's serve binds 0.0.0.0:8080; tests may only bind 127.0.0.1.",
    ),
    NotComparable(
        id="notebook-refused-by-sagemaker",
        what=(
            "notebook create without a subnet_id and with direct internet access disabled: "
            "ML2P 0.6.0 succeeds under moto, where SageMaker would refuse the notebook"
        ),
        reason="moto does not check that combination.",
    ),
    NotComparable(
        id="s3-key-length",
        what=(
            "a record id longer than an S3 key may be: ML2P 0.6.0 stores it under moto, "
            "where S3 would refuse the put (and 0.6's prediction would fail)"
        ),
        reason="moto does not enforce S3's 1024-byte key limit.",
    ),
    NotComparable(
        id="lifecycle-config-listing",
        what="notebook lifecycle configurations are described by name, not listed",
        reason="moto's ListNotebookInstanceLifecycleConfigs fails with an internal error.",
    ),
)
