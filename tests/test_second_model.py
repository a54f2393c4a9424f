"""A second model of an existing family, added as data only, works end to end.

The contract gets ``kling-test-text-to-video``: Kling O3 text-to-video's schema under another id,
with its own price. A separate pytest run (so every process-wide cache reads that contract) checks
validation, price, lifecycle, factories, request conformance, drift and the schemathesis suite
(``tests/second_model/check_second_model.py``).
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from mock_server.contract import load_yaml
from mock_server.resources import contract_path

CHECKS = Path(__file__).parent / "second_model" / "check_second_model.py"
MODEL = "kling-test-text-to-video"


def contract_with_second_model() -> dict[str, Any]:
    """openapi.yaml plus the test model: a copy of a sibling's schema with its own id and price."""
    spec = load_yaml(contract_path())
    schemas = spec["components"]["schemas"]
    sibling = schemas["TextToVideoRequest"]
    added = copy.deepcopy(sibling)
    added["properties"]["model"] = {"const": MODEL}
    added["description"] = f"`{MODEL}`: a test-only sibling of kling-o3-text-to-video."
    pricing = added["x-evolink"]["pricing"]
    pricing["rates"] = [{**rate, "credits": 3.3 if rate["credits"] == 5.4 else rate["credits"]}
                        for rate in pricing["rates"]]
    schemas["TestTextToVideoRequest"] = added
    request = schemas["VideoGenerationRequest"]
    request["oneOf"].append({"$ref": "#/components/schemas/TestTextToVideoRequest"})
    request["discriminator"]["mapping"][MODEL] = "#/components/schemas/TestTextToVideoRequest"
    schemas["Model"]["enum"].append(MODEL)
    examples = spec["paths"]["/v1/videos/generations"]["post"]["requestBody"]["content"]["application/json"]
    examples["examples"]["test_model"] = {"summary": "The test model", "value": {"model": MODEL, "prompt": "a test"}}
    return spec


def test_a_second_model_added_as_data_works_end_to_end(tmp_path: Path) -> None:
    contract = tmp_path / "openapi.yaml"
    contract.write_text(yaml.safe_dump(contract_with_second_model(), sort_keys=False), encoding="utf-8")
    env = {**os.environ, "EVOLINK_MOCK_CONTRACT": str(contract)}
    result = subprocess.run([sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", "-q",
                             "--rootdir", str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
