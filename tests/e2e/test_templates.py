"""The examples' SAM templates: valid for CloudFormation and SAM (cfn-lint, which runs the SAM
transform through aws-sam-translator, offline), shaped as docs/getting-started.md says (zip
variant: the lwa layer, handler run.sh, /opt/bootstrap; image variant: the Dockerfile beside
it; both architectures; a Function URL, streaming where the app streams), and naming only
variables lwa reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# (example, template) -> what it deploys: "zip" on a managed runtime with the lwa layer, or "image"
TEMPLATES = {
    ("flask", "template.yaml"): "zip",
    ("flask", "template-image.yaml"): "image",
    ("fastapi", "template.yaml"): "zip",
    ("fastapi", "template-image.yaml"): "image",
    ("express", "template.yaml"): "zip",
    ("express", "template-image.yaml"): "image",
    ("php", "template.yaml"): "image",  # Lambda has no PHP runtime
}
RUNTIME = {"flask": "python3.", "fastapi": "python3.", "express": "nodejs"}
STREAMING = {"fastapi"}  # apps with a streaming endpoint: their function URL streams


def lwa_variables() -> set[str]:
    """Every AWS_LWA_* name lwa's configuration reads."""
    return set(re.findall(r"AWS_LWA_[A-Z0-9_]+", (REPO / "lwa" / "config.py").read_text()))


def load(example: str, name: str) -> dict[str, Any]:
    decode = pytest.importorskip("cfnlint.decode", reason="cfn-lint is not installed (pip install cfn-lint)")
    template, problems = decode.decode(str(EXAMPLES / example / name))
    assert not problems, problems
    return template


def the_function(template: dict[str, Any]) -> dict[str, Any]:
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1, "one function per template"
    return functions[0]


def test_every_example_has_its_templates() -> None:
    on_disk = {(p.parent.name, p.name) for p in EXAMPLES.glob("*/template*.yaml")}
    assert on_disk == set(TEMPLATES)
    for example in {e for e, _ in TEMPLATES}:
        assert (EXAMPLES / example / "template.yaml").is_file()
        has_image = any(kind == "image" for (e, _), kind in TEMPLATES.items() if e == example)
        assert has_image == (EXAMPLES / example / "Dockerfile").is_file(), example


@pytest.mark.parametrize(("example", "name"), sorted(TEMPLATES))
def test_cfn_lint_passes(example: str, name: str) -> None:
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is not installed (pip install cfn-lint)")
    path = EXAMPLES / example / name
    matches = api.lint(path.read_text(), config=api.ManualArgs(regions=["us-east-1"]))
    assert not matches, "\n".join(f"{name}:{m.linenumber}: {m.rule.id} {m.message}" for m in matches)


def test_cfn_lint_catches_a_broken_template() -> None:
    """The check above can fail: the same linter, offline, rejects each of these mistakes."""
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint is not installed (pip install cfn-lint)")
    text = (EXAMPLES / "flask" / "template.yaml").read_text()
    mistakes = {
        "E3030": ("Runtime: python3.12", "Runtime: python2.6"),  # no such runtime
        "E1020": ("[!Ref LwaLayerArn]", "[!Ref LwaLayer]"),      # a parameter that does not exist
        "E3012": ("MemorySize: 512", "MemorySize: lots"),         # not a number
    }
    broken = text
    for old, new in mistakes.values():
        assert old in broken
        broken = broken.replace(old, new)
    ids = {m.rule.id for m in api.lint(broken, config=api.ManualArgs(regions=["us-east-1"]))}
    assert set(mistakes) <= ids, ids


@pytest.mark.parametrize(("example", "name"), sorted(TEMPLATES))
def test_template_deploys_what_it_says(example: str, name: str) -> None:
    template = load(example, name)
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    params = template["Parameters"]
    assert params["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    fn = the_function(template)
    props = fn["Properties"]
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    env = (props.get("Environment") or {}).get("Variables") or {}
    url = props["FunctionUrlConfig"]
    assert url["AuthType"] in ("NONE", "AWS_IAM")
    streams = url.get("InvokeMode") == "RESPONSE_STREAM"
    assert streams == (example in STREAMING), "stream exactly where the app streams"
    assert (env.get("AWS_LWA_INVOKE_MODE") == "response_stream") == streams, \
        "RESPONSE_STREAM needs AWS_LWA_INVOKE_MODE=response_stream, and only it"
    outputs = [o["Value"] for o in template["Outputs"].values()]
    assert any(v == {"Fn::GetAtt": [f"{k}Url", "FunctionUrl"]} for v in outputs
               for k, r in template["Resources"].items() if r is fn), outputs

    if TEMPLATES[(example, name)] == "zip":
        assert props["Handler"] == "run.sh" and props["CodeUri"] == "."
        assert (EXAMPLES / example / "run.sh").is_file()
        assert props["Runtime"].startswith(RUNTIME[example])
        assert props["Layers"] == [{"Ref": "LwaLayerArn"}]
        assert re.fullmatch(params["LwaLayerArn"]["AllowedPattern"],
                            "arn:aws:lambda:eu-west-1:123456789012:layer:lwa-x86_64:3")
        assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
        needs_self_contained = not props["Runtime"].startswith("python")
        assert ("--self-contained" in (EXAMPLES / example / name).read_text()) == needs_self_contained
    else:
        assert props["PackageType"] == "Image"
        assert "Runtime" not in props and "Handler" not in props and "Layers" not in props
        meta = fn["Metadata"]
        assert (EXAMPLES / example / meta["DockerContext"] / meta["Dockerfile"]).is_file()


@pytest.mark.parametrize(("example", "name"), sorted(TEMPLATES))
def test_only_variables_lwa_reads(example: str, name: str) -> None:
    """A misspelt AWS_LWA_* name is silently ignored by Lambda and by lwa: catch it here."""
    known = lwa_variables()
    assert {"AWS_LWA_PORT", "AWS_LWA_INVOKE_MODE", "AWS_LWA_PASS_THROUGH_PATH"} <= known
    used = set(re.findall(r"AWS_LWA_[A-Z0-9_]+", (EXAMPLES / example / name).read_text()))
    assert used <= known, f"not read by lwa: {sorted(used - known)}"
