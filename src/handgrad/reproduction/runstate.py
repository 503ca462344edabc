"""What a run folder written by ``handgrad reproduce`` holds for one experiment."""

from __future__ import annotations

from pathlib import Path

from handgrad import readers
from handgrad.config import read_run_config
from handgrad.errors import HandgradError
from handgrad.reproduction.spec import Experiment
from handgrad.reproduction.verdicts import NOT_AVAILABLE


def read_json(path: Path, reader=readers.read_json):
    """``reader(path)`` (see :mod:`handgrad.readers`): None when the file does not exist, a
    HandgradError naming the file when it is not what handgrad wrote."""
    return readers.read_optional(reader, path)


class RunState:
    """metrics.json, reproduce.json and config.json of one experiment's folder, and its state."""

    def __init__(self, exp: Experiment, fam_dir: Path, status: dict | None):
        self.exp = exp
        self.folder = fam_dir / "runs" / exp.id
        try:
            self.metrics = read_json(self.folder / "metrics.json", readers.read_metrics)
            self.meta = read_json(self.folder / "reproduce.json", readers.read_run_meta) or {}
            self.config = read_json(self.folder / "config.json", read_run_config)
        except HandgradError as e:  # the report goes on and says which file is wrong
            self.metrics, self.meta, self.config = None, {"error": str(e)}, None
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
