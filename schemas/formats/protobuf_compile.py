"""Compile ``.proto`` text with grpcio-tools' bundled protoc, in process.

protoc reports errors on file descriptor 2, so it is redirected to a file for the duration of
the call (under a lock: fd 2 is process-wide) to turn them into ``SchemaError``. Compiles share
one scratch directory per process (see ``_Workspace``): per-call temporary trees cost more than
protoc itself.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2 as pb
from grpc_tools import protoc

from schemas.types import SchemaError

WELL_KNOWN_INCLUDE = str(Path(grpc_tools.__file__).parent / "_proto")
_PROTOC_LOCK = threading.Lock()
MAX_DEPENDENCY_SETS = 256
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


class _Workspace:
    """One scratch directory per process, reused by every compile (under ``_PROTOC_LOCK``).

    A fresh temporary directory per parse (create, write, remove a tree) cost more than protoc
    itself. Here a compile writes its source, runs protoc and unlinks the source again (so no
    later compile can import a stale file); dependency sets are written once per distinct set
    (content-addressed file names), stderr goes to one reused file.
    """

    def __init__(self) -> None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.pid = os.getpid()
        self.root = Path(tempfile.mkdtemp(prefix="dn-protoc-", dir=base))
        self.src = self.root / "src"
        self.src.mkdir()
        self.src_text = str(self.src)
        self.out = str(self.root / "out.pb")
        self.errors = (self.root / "stderr").open("w+b")
        self.dependency_sets: OrderedDict[str, Path] = OrderedDict()
        atexit.register(shutil.rmtree, self.root, True)

    def dependency_set(self, dependencies: Sequence[pb.FileDescriptorProto]) -> Path:
        payload = pb.FileDescriptorSet(file=list(dependencies)).SerializeToString()
        digest = hashlib.sha256(payload).hexdigest()[:32]
        path = self.dependency_sets.get(digest)
        if path is not None:
            self.dependency_sets.move_to_end(digest)
            return path
        path = self.root / f"deps-{digest}.pb"
        path.write_bytes(payload)
        self.dependency_sets[digest] = path
        if len(self.dependency_sets) > MAX_DEPENDENCY_SETS:
            _, evicted = self.dependency_sets.popitem(last=False)
            evicted.unlink(missing_ok=True)
        return path

    def run(self, args: list[str]) -> tuple[int, str]:
        """protoc's exit code and what it wrote to stderr (fd 2 is process-wide: hold the lock)."""
        self.errors.seek(0)
        self.errors.truncate()
        saved = os.dup(2)
        try:
            os.dup2(self.errors.fileno(), 2)
            code = protoc.main(args)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        self.errors.seek(0)
        return code, self.errors.read().decode("utf-8", errors="replace")


_workspace: _Workspace | None = None


def _current_workspace() -> _Workspace:
    global _workspace
    if _workspace is None or _workspace.pid != os.getpid():
        _workspace = _Workspace()
    return _workspace


def compile_proto(
    text: str, file_name: str, dependencies: Sequence[pb.FileDescriptorProto]
) -> list[pb.FileDescriptorProto]:
    """Compile ``text`` as ``file_name``; returns the closure of files, dependencies first."""
    with _PROTOC_LOCK:
        work = _current_workspace()
        if os.path.isabs(file_name) or ".." in file_name.split("/"):
            raise SchemaError(f"Invalid protobuf file name '{file_name}'")
        source = os.path.join(work.src_text, file_name)
        if "/" in file_name:
            os.makedirs(os.path.dirname(source), exist_ok=True)
        with open(source, "wb") as handle:
            handle.write(text.encode("utf-8"))
        args = [
            "protoc",
            f"-I{work.src_text}",
            f"-I{WELL_KNOWN_INCLUDE}",
            f"--descriptor_set_out={work.out}",
            "--include_imports",
        ]
        if dependencies:
            args.append(f"--descriptor_set_in={work.dependency_set(dependencies)}")
        args.append(file_name)
        raw = b""
        try:
            code, message = work.run(args)
            if code == 0:
                with open(work.out, "rb") as handle:
                    raw = handle.read()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(source)
    if code != 0:
        cleaned = message.replace(work.src_text + os.sep, "").strip() or f"protoc exit {code}"
        raise SchemaError(f"Invalid protobuf schema: {cleaned}")
    descriptor_set = pb.FileDescriptorSet()
    descriptor_set.ParseFromString(raw)
    return list(descriptor_set.file)
