"""The import-linter contracts in pyproject.toml name every module they must: a new one is not left out."""

from __future__ import annotations

import tomllib
from typing import Any

from riskcontrol.settings import PROJECT_ROOT


def _contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)


def test_the_web_may_import_no_api_module_including_each_one_named_after_its_capability() -> None:
    forbidden = set(_contract("Web pages call services, never API modules")["forbidden_modules"])
    package = PROJECT_ROOT / "riskcontrol"
    # `riskcontrol.**.api` covers every `api` module; grimp's wildcards cannot say `*_api`, so those are listed.
    named = {".".join(("riskcontrol", *p.relative_to(package).with_suffix("").parts)) for p in package.rglob("*_api.py")}
    assert "riskcontrol.**.api" in forbidden
    assert named - forbidden == set()
