"""Registers the built-in connector plugins (once)."""

from __future__ import annotations

from agents.connect.plugins import register

_loaded = False


def load() -> None:
    global _loaded
    if _loaded:
        return
    from agents.connect.connectors import file, http, postgres, redis_sink

    for plugin in (file.SOURCE, file.SINK, http.SINK, http.WEBHOOK, postgres.SINK, redis_sink.SINK):
        register(plugin)
    _loaded = True
