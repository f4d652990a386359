"""Compile ``.proto`` text with grpcio-tools' bundled protoc, in process.

protoc reports errors on file descriptor 2, so it is redirected to a temporary file for the
duration of the call (under a lock: fd 2 is process-wide) to turn them into ``SchemaError``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2 as pb
from grpc_tools import protoc

from schemas.types import SchemaError

WELL_KNOWN_INCLUDE = str(Path(grpc_tools.__file__).parent / "_proto")
_PROTOC_LOCK = threading.Lock()
_BUILTIN_MODULES = {
    "google/protobuf/any.proto": "google.protobuf.any_pb2",
    "google/protobuf/api.proto": "google.protobuf.api_pb2",
    "google/protobuf/descriptor.proto": "google.protobuf.descriptor_pb2",
    "google/protobuf/duration.proto": "google.protobuf.duration_pb2",
    "google/protobuf/empty.proto": "google.protobuf.empty_pb2",
    "google/protobuf/field_mask.proto": "google.protobuf.field_mask_pb2",
    "google/protobuf/source_context.proto": "google.protobuf.source_context_pb2",
    "google/protobuf/struct.proto": "google.protobuf.struct_pb2",
    "google/protobuf/timestamp.proto": "google.protobuf.timestamp_pb2",
    "google/protobuf/type.proto": "google.protobuf.type_pb2",
    "google/protobuf/wrappers.proto": "google.protobuf.wrappers_pb2",
    "confluent/meta.proto": "confluent_kafka.schema_registry.confluent.meta_pb2",
    "confluent/type/decimal.proto": "confluent_kafka.schema_registry.confluent.types.decimal_pb2",
}


def is_builtin(file_name: str) -> bool:
    return file_name in _BUILTIN_MODULES


def builtin_file(file_name: str) -> pb.FileDescriptorProto:
    """The descriptor of a well-known file, taken from the installed Python runtime."""
    module = importlib.import_module(_BUILTIN_MODULES[file_name])
    proto = pb.FileDescriptorProto()
    proto.ParseFromString(module.DESCRIPTOR.serialized_pb)
    return proto


@contextlib.contextmanager
def _captured_stderr() -> Iterator[Path]:
    with tempfile.NamedTemporaryFile("w+b", suffix=".err") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield Path(sink.name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def compile_proto(
    text: str, file_name: str, dependencies: Sequence[pb.FileDescriptorProto]
) -> list[pb.FileDescriptorProto]:
    """Compile ``text`` as ``file_name``; returns the closure of files, dependencies first."""
    with tempfile.TemporaryDirectory(prefix="dn-protoc-") as work:
        root = Path(work) / "src"
        source = root / file_name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text, encoding="utf-8")
        out = Path(work) / "out.pb"
        args = [
            "protoc",
            f"-I{root}",
            f"-I{WELL_KNOWN_INCLUDE}",
            f"--descriptor_set_out={out}",
            "--include_imports",
        ]
        if dependencies:
            deps = Path(work) / "deps.pb"
            deps.write_bytes(pb.FileDescriptorSet(file=list(dependencies)).SerializeToString())
            args.append(f"--descriptor_set_in={deps}")
        args.append(file_name)
        with _PROTOC_LOCK, _captured_stderr() as errors:
            code = protoc.main(args)
            message = errors.read_text(encoding="utf-8", errors="replace")
        if code != 0:
            cleaned = message.replace(str(root) + os.sep, "").strip() or f"protoc exit {code}"
            raise SchemaError(f"Invalid protobuf schema: {cleaned}")
        descriptor_set = pb.FileDescriptorSet()
        descriptor_set.ParseFromString(out.read_bytes())
        return list(descriptor_set.file)
