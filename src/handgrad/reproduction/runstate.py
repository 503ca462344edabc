"""What a run folder written by ``handgrad reproduce`` holds for one experiment."""

from __future__ import annotations

import json
from pathlib import Path

from handgrad.reproduction.spec import Experiment
from handgrad.reproduction.verdicts import NOT_AVAILABLE


def read_json(path: Path):
    """The JSON in ``path``; None when the file is missing or not JSON (an interrupted write)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except json.JSONDecodeError:
        return None


class RunState:
    """metrics.json, reproduce.json and config.json of one experiment's folder, and its state."""

    def __init__(self, exp: Experiment, fam_dir: Path, status: dict | None):
        self.exp = exp
        self.folder = fam_dir / "runs" / exp.id
        self.metrics = read_json(self.folder / "metrics.json")
        self.meta = read_json(self.folder / "reproduce.json") or {}
        self.config = read_json(self.folder / "config.json")
        status = status or {}
        if self.metrics is not None:
            self.state = "done"
        elif self.meta.get("error"):
            self.state = "failed"
        else:
            self.state = NOT_AVAILABLE
        self.reason = (self.meta.get("error") or status.get("reason")
                       or ("no run folder" if not self.folder.exists() else "the run did not finish"))
        self.quick = bool(self.meta.get("quick"))
        self.skipped = status.get("skipped")

    def value(self, key: str):
        node = self.metrics
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None
