"""A second model of an existing family, added as data only, works end to end.

Adding a model is adding its schema (with its ``x-evolink``) and an example to its family's
source file: this test does exactly that. It copies ``mock_server/families/``, adds
``kling-test-text-to-video`` to ``kling.yaml`` (Kling O3 text-to-video's schema under another id,
with its own price), builds a contract from those sources with the generator
(``python -m mock_server.families.build --sources ... --output ...``), and a separate pytest run (so
every process-wide cache reads that contract) checks validation, price, lifecycle, factories,
request conformance, drift and the schemathesis suite (``tests/second_model/check_second_model.py``).
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import free_port

from mock_server.families import build

CHECKS = Path(__file__).parent / "second_model" / "check_second_model.py"
MODEL = "kling-test-text-to-video"


def contract_with_second_model(folder: Path) -> Path:
    """Build, into ``folder``, the project's family sources plus the test model in ``kling.yaml``."""
    sources = folder / "families"
    shutil.copytree(build.SOURCES, sources, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    kling = build.load_source(sources / "kling.yaml")
    added = copy.deepcopy(kling["schemas"]["TextToVideoRequest"])
    added["properties"]["model"] = {"const": MODEL}
    added["description"] = f"`{MODEL}`: a test-only sibling of kling-o3-text-to-video."
    pricing = added["x-evolink"]["pricing"]
    pricing["rates"] = [{**rate, "credits": 3.3 if rate["credits"] == 5.4 else rate["credits"]}
                        for rate in pricing["rates"]]
    kling["schemas"]["TestTextToVideoRequest"] = added
    kling["examples"]["test_model"] = {"summary": "The test model", "value": {"model": MODEL, "prompt": "a test"}}
    (sources / "kling.yaml").write_text(yaml.safe_dump(kling, sort_keys=False, allow_unicode=True), encoding="utf-8")
    contract = folder / "openapi.yaml"
    assert build.main(["--sources", str(sources), "--output", str(contract)]) == 0
    return contract


def test_a_second_model_added_as_data_works_end_to_end(tmp_path: Path) -> None:
    contract = contract_with_second_model(tmp_path)
    assert MODEL in contract.read_text(encoding="utf-8")
    env = {**os.environ, "EVOLINK_MOCK_CONTRACT": str(contract)}
    result = subprocess.run([sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "-q",
                             "--rootdir", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout


@pytest.mark.parametrize(("content", "said"), [
    ("# a README\nSome text: with a colon: here\n", "is not valid YAML: mapping values are not allowed"),
    ("openapi: 3.1.0\n", "is not an EvoLink API contract like the bundled openapi.yaml: it has no 'components'"),
    ("[1, 2]\n", "not a YAML mapping")])
def test_serve_refuses_a_file_that_is_no_contract_in_one_line(tmp_path: Path, content: str, said: str) -> None:
    document = tmp_path / "contract.yaml"
    document.write_text(content, encoding="utf-8")
    for argv, env in ((["--contract", str(document)], {}), ([], {"EVOLINK_MOCK_CONTRACT": str(document)})):
        result = subprocess.run([sys.executable, "-m", "mock_server", *argv, "--port", str(free_port())],
                                capture_output=True, text=True, timeout=60, env={**os.environ, **env})
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and said in result.stderr and str(document) in result.stderr, \
            result.stderr
