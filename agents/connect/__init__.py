"""Kafka Connect-style connectors: configs, transforms, converters, runtime and built-ins."""
