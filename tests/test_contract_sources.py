"""openapi.yaml is generated from mock_server/families/*.yaml: the committed file matches its sources."""
from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.families import build
from mock_server.resources import contract_path


def test_the_committed_contract_is_the_built_one() -> None:
    committed = contract_path().read_text(encoding="utf-8")
    assert committed == build.render(build.build()), "openapi.yaml is stale: run python -m mock_server.families.build"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.yaml"
    stale.write_text(contract_path().read_text(encoding="utf-8").replace("Kling", "Klong", 1), encoding="utf-8")
    assert build.main(["--check", "--output", str(stale)]) == 1
    assert build.main(["--output", str(stale)]) == 0 and build.main(["--check", "--output", str(stale)]) == 0


def test_a_schema_defined_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    original = build.load_source

    def doubled(path: Path) -> dict:
        document = original(path)
        if path.stem == "kling":
            document["schemas"]["MediaUrl"] = {"type": "string"}
        return document

    monkeypatch.setattr(build, "load_source", doubled)
    with pytest.raises(build.SourceError, match="MediaUrl is defined twice"):
        build.build()


def test_the_readme_models_table_is_the_registry_one() -> None:
    readme = contract_path().parent / "README.md"
    if not readme.exists():
        pytest.skip("installed from a wheel: no README next to the contract")
    text = readme.read_text(encoding="utf-8")
    assert text == build.readme_with_table(text), "stale: run python -m mock_server.families.build"
