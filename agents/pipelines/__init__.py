"""Pipelines in the running product: the command agent (all reads/writes of a pipeline go to the
worker owning its partition) and the runner that executes each active pipeline's current version."""
