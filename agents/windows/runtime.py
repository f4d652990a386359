"""What a running window pipeline exposes to views: its spec, manager, store and watermarks."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.windows.config import WindowPipeline
from agents.windows.journal_store import JournaledStore
from tables.windows.manager import WindowStateManager


@dataclass
class WindowRuntime:
    pipeline: WindowPipeline
    manager: WindowStateManager
    store: JournaledStore
    #: last watermark per input partition processed by this worker (epoch ms)
    watermarks: dict[int, int] = field(default_factory=dict)
