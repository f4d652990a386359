"""Window pipelines: agents that run the window engine (tables.windows) on Kafka topics."""

from agents.windows.agent import install_windows
from agents.windows.config import WindowPipeline, parse_pipelines

__all__ = ["WindowPipeline", "install_windows", "parse_pipelines"]
