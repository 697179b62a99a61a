"""pyproject.toml uses the metadata forms its build backend accepts without a deprecation
warning: the licence as an SPDX string, which needs setuptools 77 or later (PEP 639)."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_licence_is_an_spdx_string_and_the_build_needs_a_setuptools_that_reads_it():
    data = tomllib.loads(PYPROJECT.read_text())
    assert data["project"]["license"] == "MIT", "a TOML table is deprecated by setuptools"
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", [])), \
        "with an SPDX licence, setuptools refuses licence classifiers"
    [setuptools] = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum and int(minimum.group(1)) >= 77, setuptools
