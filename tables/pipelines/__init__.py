"""Pipeline configs: schema + validation, the batch executor, versioned storage, diffs, run state.

Entry points for the app: ``PipelineStore`` and ``PipelineRuntimeStore`` (REST views),
``compile_pipeline`` (runner), ``pipeline_json_schema`` (``GET /v1/pipelines/schema``).
"""

from tables.pipelines.diff import ConfigDiff, apply_patch, diff_configs
from tables.pipelines.engines import dedupe_config_fields
from tables.pipelines.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    PaginationError,
    PipelineError,
    PipelineValidationError,
    RequestParameterError,
)
from tables.pipelines.executor import CompiledPipeline, MissingEngineError, compile_pipeline
from tables.pipelines.http_params import expected_version, page_params, version_param
from tables.pipelines.models import Pipeline, PipelineVersion, VersionKind, VersionMeta
from tables.pipelines.runtime import DesiredState, PipelineRuntimeStore, PipelineStatus, RunState
from tables.pipelines.schema import pipeline_json_schema
from tables.pipelines.store import MAX_VERSIONS, PipelineStore
from tables.pipelines.types import (
    BatchStage,
    ConfigIssue,
    DroppedRecord,
    KeyValueStore,
    Page,
    StageFactory,
    StageResult,
)
from tables.pipelines.validation import check_pipeline_config, validate_pipeline_config

__all__ = [
    "MAX_VERSIONS",
    "BatchStage",
    "CompiledPipeline",
    "ConfigDiff",
    "ConfigIssue",
    "ConflictError",
    "DesiredState",
    "DroppedRecord",
    "GoneError",
    "KeyValueStore",
    "MissingEngineError",
    "NotFoundError",
    "Page",
    "PaginationError",
    "Pipeline",
    "PipelineError",
    "PipelineRuntimeStore",
    "PipelineStatus",
    "PipelineStore",
    "PipelineValidationError",
    "PipelineVersion",
    "RequestParameterError",
    "RunState",
    "StageFactory",
    "StageResult",
    "VersionKind",
    "VersionMeta",
    "apply_patch",
    "check_pipeline_config",
    "compile_pipeline",
    "dedupe_config_fields",
    "diff_configs",
    "expected_version",
    "page_params",
    "pipeline_json_schema",
    "validate_pipeline_config",
    "version_param",
]
