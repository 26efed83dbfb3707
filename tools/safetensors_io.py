"""Read and write safetensors files the way cnncc expects them (SPEC §3).

The format is small enough to implement here instead of depending on the
`safetensors` package: an 8-byte little-endian header length N, N bytes of
JSON (padded with spaces to a multiple of 8 so the data starts aligned),
then the raw little-endian tensor data. The header maps each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} relative to the data start.

We always write F32 in the order given, so the same tensors give the same
bytes. The reader also accepts F16 and BF16 and widens them to float32.
"""

import json
import os
import struct

import numpy as np

_DTYPES = {"F32": 4, "F16": 2, "BF16": 2}


class SafetensorsError(Exception):
    pass


def encode(tensors, metadata=None):
    """Return the bytes of a safetensors file holding `tensors` as F32.

    `tensors` is a dict name -> array-like (insertion order is kept).
    `metadata` is an optional dict of str -> str stored as __metadata__.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        array = np.ascontiguousarray(np.asarray(value, dtype="<f4"))
        blob = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def save(path, tensors, metadata=None):
    """Write atomically (temp file + rename), like cnncc's own outputs."""
    data = encode(tensors, metadata)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def decode(data):
    """Parse safetensors bytes; return (dict name -> float32 array, metadata)."""
    if len(data) < 8:
        raise SafetensorsError("file is shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise SafetensorsError(f"header length {header_len} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    body = memoryview(data)[8 + header_len:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        tensors[name] = _decode_tensor(name, info, body)
    return tensors, metadata


def _decode_tensor(name, info, body):
    try:
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise SafetensorsError(f"tensor '{name}': malformed header entry") from None
    if dtype not in _DTYPES:
        raise SafetensorsError(f"tensor '{name}': unsupported dtype {dtype} (F32, F16, BF16)")
    count = int(np.prod(shape, dtype=np.int64))
    if not 0 <= begin <= end <= len(body) or end - begin != count * _DTYPES[dtype]:
        raise SafetensorsError(f"tensor '{name}': data_offsets {[begin, end]} do not fit "
                               f"shape {shape} of {dtype} in {len(body)} data bytes")
    raw = bytes(body[begin:end])
    if dtype == "F32":
        array = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        array = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    else:  # BF16 is the top half of a float32
        array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float32).reshape(shape)


def load(path):
    """Read a safetensors file; return dict name -> float32 numpy array."""
    with open(path, "rb") as f:
        return decode(f.read())[0]
