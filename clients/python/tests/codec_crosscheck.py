"""Helper of the Swift cross-check (Tests/RPCGenKitTests/CrossCheckTests.swift), not a test itself.

Reads {"samples": [{"name", "hex", "plain"}]} on stdin: `hex` is what our Swift code encoded,
`plain` the values it meant (see codec_reference). For each sample, decodes `hex` with the
`protobuf` package and compares with `plain`, and encodes `plain` with `protobuf`. Writes
{"results": [{"name", "mismatches": [field, ...], "error": str|null, "protobuf_hex": str}]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import codec_reference as ref  # noqa: E402


def diff(got, want, prefix=""):
    """The dotted names of the fields whose plain values differ."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want)):
            out += diff(got.get(key), want.get(key), prefix + key + ".")
        return out
    return [] if got == want else [f"{prefix.rstrip('.')}: protobuf {got!r}, ours {want!r}"]


def main() -> None:
    request = json.load(sys.stdin)
    results = []
    for sample in request["samples"]:
        result = {"name": sample["name"], "mismatches": [], "error": None, "protobuf_hex": ""}
        try:
            msg = ref.AllTypes.FromString(bytes.fromhex(sample["hex"]))
            result["mismatches"] = diff(ref.to_plain(msg), sample["plain"])
            result["protobuf_hex"] = ref.from_plain(sample["plain"]).SerializeToString().hex()
        except Exception as e:  # reported to the Swift test, which fails on it
            result["error"] = f"{type(e).__name__}: {e}"
        results.append(result)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
