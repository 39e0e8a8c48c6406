"""The user-facing docs: links resolve, and no development-process narrative (work logs, tool lending)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "scripts").glob("*.sh"))]
# What a user has no use for: issue numbers, run logs by work period, borrowing machines through a tool.
NARRATIVE = re.compile(r"\bissues? #?\d|\bsessions? \(?\d|\bpkill\b|\bborrow|\bdevice (machine|tool)|\blent\b",
                       re.IGNORECASE)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_no_work_log_or_tool_narrative(path: Path) -> None:
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1) if NARRATIVE.search(line)]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("path", [p for p in DOCS if p.suffix == ".md"], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"


def test_weights_are_described_once_and_as_they_are() -> None:
    # int8 storage with a 7-bit range (the export's default, written in the calibration record)
    readme = (REPO / "README.md").read_text()
    assert "7-bit range" in readme and "8-bit weights" not in readme.split("## Quick start")[0]
    calibration = (REPO / "attendseg_ros" / "weights" / "attendseg_camvid11.int8.calibration.json").read_text()
    assert "7-bit range" in calibration
