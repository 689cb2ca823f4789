"""Every ``ml2p`` command of ML2P 0.6's tree, as a deploy script runs them.

Each command is run through the package's ``ml2p`` console script (the
function its entry point names, called in this process as the script would
call it) with a 0.6 ``ml2p.yml``. For each: the exit code, the JSON printed on
stdout, and what changed in AWS afterwards (S3 objects and SageMaker
resources described back from moto, with their tags).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import urllib.request

from observe import (
    BUCKET,
    captured_output,
    copy_configs,
    make_bucket,
    run,
    s3_state,
    sagemaker_state,
)

#: What moto's sagemaker-runtime answers to ``endpoint invoke`` (it has no real model).
CANNED_BODY = {"metadata": {"model_version": "compat-proj-single-1-0-0"}, "result": {"y": 2}}


def console_script(name):
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    return found[0].load()


def json_documents(text):
    """The JSON documents printed one after another (as ``ml2p`` prints listings)."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        try:
            doc, end = decoder.raw_decode(text, pos)
        except ValueError:
            return {"$text": text[pos:]}
        docs.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return docs


class Cli:
    def __init__(self, obs):
        self.obs = obs
        self.main = console_script("ml2p")
        self.state = self.snapshot()

    def snapshot(self):
        return {"s3": dict(s3_state()), "sagemaker": sagemaker_state()}

    def __call__(self, label, *argv, changes=True, version=None):
        saved = sys.argv
        sys.argv = ["ml2p", *argv]
        with captured_output() as (out, err):
            try:
                code = self.main()
            except SystemExit as exc:
                code = exc.code
            except Exception:  # what the console script would print and exit 1 with
                traceback.print_exc()
                code = 1
        sys.argv = saved
        if code is None:
            code = 0
        elif not isinstance(code, int):
            code = 1
        printed = out.getvalue()
        if version:  # the package's own version is no difference
            printed = printed.replace(version, "<version>")
        result = {
            "exit": code,
            "stdout": json_documents(printed),
            "_stderr": err.getvalue().splitlines()[-3:],
        }
        if changes:
            now = self.snapshot()
            result["aws-changes"] = delta(self.state, now)
            self.state = now
        self.obs.record(f"cli/{label}: ml2p {' '.join(argv)}", result)
        return result


def delta(before, after):
    """What was added, removed or changed between two snapshots."""
    out = {}
    s3_before, s3_after = before["s3"], after["s3"]
    out["s3"] = {
        "added": {k: v for k, v in s3_after.items() if k not in s3_before},
        "removed": sorted(k for k in s3_before if k not in s3_after),
        "changed": {k: v for k, v in s3_after.items() if k in s3_before and s3_before[k] != v},
    }
    for kind, items in after["sagemaker"].items():
        old = before["sagemaker"][kind]
        out[kind] = {
            "added": {k: v for k, v in items.items() if k not in old},
            "removed": sorted(k for k in old if k not in items),
            "changed": {k: v for k, v in items.items() if k in old and old[k] != v},
        }
    return {k: {kk: vv for kk, vv in v.items() if vv} for k, v in out.items() if any(v.values())}


def sibling_project():
    """Resources of project ``compat-projx``, whose names start with ``compat-proj``."""
    import boto3

    sm = boto3.client("sagemaker")
    tags = [{"Key": "ml2p-project", "Value": "compat-projx"}]
    role = "arn:aws:iam::123456789012:role/other"
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1"
    sm.create_training_job(
        TrainingJobName="compat-projx-other-1-0",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=role,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/other/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
        Tags=tags,
    )
    sm.create_model(
        ModelName="compat-projx-other-1-0-0",
        PrimaryContainer={"Image": image},
        ExecutionRoleArn=role,
        Tags=tags,
    )
    sm.create_endpoint_config(
        EndpointConfigName="compat-projx-other-1-0-0-live-config",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "compat-projx-other-1-0-0",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
            }
        ],
        Tags=tags,
    )
    sm.create_endpoint(
        EndpointName="compat-projx-other-1-0-0-live",
        EndpointConfigName="compat-projx-other-1-0-0-live-config",
        Tags=tags,
    )
    sm.create_notebook_instance(
        NotebookInstanceName="compat-projx-nb", InstanceType="ml.t3.medium", RoleArn=role, Tags=tags
    )


def canned_invoke_result():
    url = os.environ["ML2P_COMPAT_MOTO_URL"] + "/moto-api/static/sagemaker/endpoint-results"
    body = {"results": [{"Body": json.dumps(CANNED_BODY), "ContentType": "application/json"}]}
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()


def prepare(obs):
    copy_configs(obs.work)
    make_bucket()
    with open("data.csv", "w") as f:
        f.write("x,y\n1,2\n")


def version(obs):
    import ml2p

    Cli(obs)("version", "--version", changes=False, version=ml2p.__version__)


def project_files(obs):
    cli = Cli(obs)
    cli("01", "init")
    cli("02", "dataset", "list")
    cli("03", "dataset", "create", "single-20260101")
    cli("04", "dataset", "create", "bad_name")
    cli("05", "dataset", "list")
    cli("06", "dataset", "up", "single-20260101", "data.csv")
    cli("07", "dataset", "up", "single-20260101", "data.csv", "renamed.csv")
    cli("08", "dataset", "up", "single-20260101", "missing.csv")
    cli("09", "dataset", "ls", "single-20260101")
    cli("10", "dataset", "dn", "single-20260101", "renamed.csv", "downloaded.csv")
    obs.record("cli/10-downloaded-file", open("downloaded.csv").read())
    os.remove("data.csv")
    cli("11", "dataset", "dn", "single-20260101", "data.csv")
    obs.record("cli/11-downloaded-file", open("data.csv").read())
    cli("12", "dataset", "dn", "single-20260101", "nope.csv", "nope-local.csv")
    obs.record("cli/12-local-file-left", os.path.exists("nope-local.csv"))
    cli("13", "dataset", "rm", "single-20260101", "renamed.csv")
    cli("14", "dataset", "rm", "single-20260101", "never-there.csv")
    cli("15", "dataset", "ls", "single-20260101")
    cli("16", "dataset", "ls", "single-20991231")
    cli("17", "dataset", "create", "single-20260109")
    cli("18", "dataset", "delete", "single-20260109")
    cli("19", "dataset", "delete", "single-20991231")
    cli("20", "--cfg", "missing.yml", "dataset", "list")


def jobs(obs):
    cli = Cli(obs)
    cli("21", "dataset", "generate", "single-20260102", "-m", "single")
    cli("22", "dataset", "generate", "single-20260103")
    cli("23", "dataset", "generate", "single-20260104", "-m", "nope")
    cli("24", "dataset", "generate", "multi-20260105", "-m", "multi")
    cli("25", "--cfg", "plain.yml", "dataset", "generate", "single-20260106")
    cli("26", "training-job", "create", "single-1-0", "single-20260101", "-m", "single")
    cli("27", "training-job", "create", "multi-1-0", "single-20260101", "-m", "multi")
    cli("28", "training-job", "create", "bad", "single-20260101", "-m", "single")
    cli("29", "--cfg", "plain.yml", "training-job", "create", "single-2-0", "single-20260101")
    cli("30", "training-job", "list")
    cli("31", "training-job", "describe", "single-1-0")
    cli("32", "training-job", "wait", "single-1-0")
    cli("33", "training-job", "describe", "nope-1-0")


def models(obs):
    cli = Cli(obs)
    cli("41", "model", "create", "single-1-0-0", "-m", "single")
    cli("42", "model", "create", "single-1-0-1", "-t", "single-1-0", "-m", "single")
    cli("43", "model", "create", "single-1-0-2-dev", "-m", "single")
    cli("44", "model", "create", "multi-1-0-0", "-m", "multi")
    cli("45", "model", "create", "single-1-0", "-m", "single")
    cli("46", "--cfg", "plain.yml", "model", "create", "single-2-0-0")
    cli("47", "model", "list")
    cli("48", "model", "describe", "single-1-0-0")
    cli("49", "model", "describe", "nope-1-0-0")
    cli("50", "model", "delete", "single-1-0-1")
    cli("51", "model", "delete", "nope-1-0-0")


def endpoints(obs):
    canned_invoke_result()
    cli = Cli(obs)
    cli("61", "endpoint", "create", "single-1-0-0-live")
    cli("62", "endpoint", "create", "single-1-0-2-dev-test", "-m", "single-1-0-0")
    cli("63", "endpoint", "create", "bad")
    cli("64", "endpoint", "list")
    cli("65", "endpoint", "describe", "single-1-0-0-live")
    cli("66", "endpoint", "wait", "single-1-0-0-live")
    cli("67", "endpoint", "invoke", "single-1-0-0-live", '{"x": 1}')
    cli("68", "endpoint", "delete", "single-1-0-2-dev-test")
    cli("69", "endpoint", "describe", "nope-1-0-0-live")
    cli("70", "endpoint", "list")


def notebooks(obs):
    cli = Cli(obs)
    cli("81", "notebook", "create", "nb")
    cli("82", "--cfg", "plain.yml", "notebook", "create", "nb2")
    cli("83", "notebook", "list")
    cli("84", "notebook", "describe", "nb")
    cli("85", "notebook", "presigned-url", "nb")
    cli("86", "notebook", "stop", "nb")
    cli("87", "notebook", "start", "nb")
    cli("88", "notebook", "delete", "nb")
    cli("89", "notebook", "delete", "nb2")
    cli("90", "notebook", "list")
    cli("91", "--cfg", "repo.yml", "notebook", "create", "nb3")
    cli("92", "repo", "list")
    cli("93", "repo", "describe", "nb3-repo")


def other_projects(obs):
    sibling_project()
    cli = Cli(obs)
    cli("95", "training-job", "list", changes=False)
    cli("96", "model", "list", changes=False)
    cli("97", "endpoint", "list", changes=False)
    cli("98", "notebook", "list", changes=False)


def notebook_without_subnet(obs):
    # Last, so that the notebook 0.6 makes under moto (SageMaker refuses it) changes no listing.
    Cli(obs)("99", "--cfg", "nosubnet.yml", "notebook", "create", "nb4")


def final_state(obs):
    obs.record("final/s3", s3_state())
    obs.record("final/sagemaker", sagemaker_state())


if __name__ == "__main__":
    run(
        prepare,
        version,
        project_files,
        jobs,
        models,
        endpoints,
        notebooks,
        other_projects,
        notebook_without_subnet,
        final_state,
    )
