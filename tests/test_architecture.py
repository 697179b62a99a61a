"""The import contract: pyproject.toml [tool.importlinter], drawn in docs/architecture.md.

A forbidden import fails here with the importing module and the line (import-linter's report
is the assertion message). The second test adds one forbidden import of each kind to the real
import graph and checks that the contract catches it, so the contract cannot pass by being
empty or misspelled.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from importlinter.application import output, use_cases
from importlinter.application.app_config import settings
from importlinter.configuration import configure

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class _GraphWithExtraImports:
    """import-linter's graph builder, plus imports that are not in the code."""

    def __init__(self, builder: Any, extra: Sequence[tuple[str, str]]) -> None:
        self.builder, self.extra = builder, extra

    def build(self, **kwargs: Any) -> Any:
        graph = self.builder.build(**kwargs)
        for importer, imported in self.extra:
            graph.add_import(importer=importer, imported=imported, line_number=999,
                             line_contents=f"import {imported}")
        return graph


@contextmanager
def _report_to(buf: io.StringIO) -> Iterator[None]:
    console = output.console
    saved = console.file, console.width
    console.file, console.width = buf, 120
    try:
        yield
    finally:
        console.file, console.width = saved


def lint(extra: Sequence[tuple[str, str]] = ()) -> tuple[bool, str]:
    """(every contract kept, import-linter's report) for the code plus ``extra`` imports."""
    configure()
    builder = settings.GRAPH_BUILDER
    settings.configure(GRAPH_BUILDER=_GraphWithExtraImports(builder, extra))
    buf = io.StringIO()
    try:
        with _report_to(buf):
            passed = use_cases.lint_imports(config_filename=str(PYPROJECT), cache_dir=None,
                                            no_logo=True)
    finally:
        settings.configure(GRAPH_BUILDER=builder)
    return passed, buf.getvalue()


def test_the_code_keeps_the_import_contract():
    passed, report = lint()
    assert passed, report
    assert "4 kept, 0 broken" in report, report


@pytest.mark.parametrize("importer, imported, broken", [
    # a lower stage reaching up
    ("robot.seeing.perception", "robot.learning.retrain",
     "robot.seeing is not allowed to import robot.learning"),
    ("robot.common.schema", "robot.runtime.config",
     "robot.common is not allowed to import robot.runtime"),
    # the two middle stages are independent
    ("robot.acting.policy", "robot.learning.experience",
     "robot.acting is not allowed to import robot.learning"),
    # nothing imports the commands
    ("robot.runtime.settings", "robot.commands.run",
     "robot.runtime is not allowed to import robot.commands"),
    # the robot never imports the offline tools; the bridge never imports the robot
    ("robot.common.errors", "tools.synth", "robot is not allowed to import tools"),
    ("firmware_bridge.link", "robot.common.errors",
     "firmware_bridge is not allowed to import robot"),
    # the fast path stays torch-free
    ("robot.seeing.backbone", "torch", "robot.seeing is not allowed to import torch"),
])
def test_a_forbidden_import_fails_with_the_module_and_line(importer, imported, broken):
    passed, report = lint([(importer, imported)])
    assert not passed
    assert broken in report, report
    assert f"{importer} -> {imported} (l.999)" in report, report


def test_a_torch_import_is_caught_through_another_module():
    passed, report = lint([("robot.learning.paths", "torch")])  # learning may use torch …
    assert passed, report
    passed, report = lint([("robot.learning.paths", "torch"),  # … seeing not, even indirectly
                           ("robot.seeing.cells", "robot.learning.paths")])
    assert not passed
    assert "robot.seeing is not allowed to import torch" in report, report
    assert "robot.learning.paths -> torch (l.999)" in report, report


def test_a_circle_inside_a_package_fails_with_both_modules():
    # the learner config and the triggers once imported each other; schedule.py broke that
    passed, report = lint([("robot.learning.schedule", "robot.learning.triggers")])
    assert not passed
    assert "No cycles are allowed in robot.learning" in report, report
    assert ".schedule -> .triggers" in report, report


def test_an_allowed_import_passes():
    passed, report = lint([("robot.runtime.vision", "robot.adapter.exported")])
    assert passed, report
