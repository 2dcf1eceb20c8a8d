"""What every benchmark record states about where its figures come from."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The short commit hash of the checkout, or ``"unknown"`` outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> float:
    """The 1-minute load average (NaN where the system has none): a shared machine's times
    are upper bounds, and the record says how shared it was."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
