"""Compares rpcgen's serialized FileDescriptorProtos with what the official protoc (grpcio-tools)
makes of the same schema files.

Input (stdin, JSON): {"files": {"<name below schema/>": "<hex of rpcgen's FileDescriptorProto>"}}.
Output (stdout, JSON): {"differences": {"<name>": "<text diff>" ...}} (empty when they agree).

What rpcgen leaves out on purpose is dropped from protoc's side first: options protoc keeps but
rpcgen reads and ignores (file options, field and enum options, message options other than
map_entry, method options other than idempotency_level) and source code info (not asked for).
"""

import json
import pathlib
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, text_format

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[3] / "schema"


def normalize(file: descriptor_pb2.FileDescriptorProto) -> None:
    file.ClearField("options")
    file.ClearField("source_code_info")

    def message(m):
        map_entry = m.options.map_entry
        m.ClearField("options")
        if map_entry:
            m.options.map_entry = True
        for f in m.field:
            f.ClearField("options")
        for n in m.nested_type:
            message(n)
        for e in m.enum_type:
            enum(e)

    def enum(e):
        e.ClearField("options")
        for v in e.value:
            v.ClearField("options")

    for m in file.message_type:
        message(m)
    for e in file.enum_type:
        enum(e)
    for s in file.service:
        s.ClearField("options")
        for method in s.method:
            level = method.options.idempotency_level
            method.ClearField("options")
            if level:
                method.options.idempotency_level = level


def main() -> None:
    ours_hex = json.load(sys.stdin)["files"]
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "set.pb"
        run = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{SCHEMA_DIR}",
                              f"--descriptor_set_out={out}", *sorted(ours_hex)], capture_output=True, text=True)
        if run.returncode != 0:
            print(json.dumps({"error": run.stderr}))
            return
        theirs = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    by_name = {f.name: f for f in theirs.file}
    differences = {}
    for name, hex_bytes in sorted(ours_hex.items()):
        ours = descriptor_pb2.FileDescriptorProto.FromString(bytes.fromhex(hex_bytes))
        protoc = by_name.get(name)
        if protoc is None:
            differences[name] = "protoc did not compile it"
            continue
        normalize(protoc)
        if ours != protoc:
            differences[name] = ("protoc:\n" + text_format.MessageToString(protoc)
                                 + "\nrpcgen:\n" + text_format.MessageToString(ours))
    print(json.dumps({"differences": differences}))


if __name__ == "__main__":
    main()
