"""The bytes of a checkpoint: arrays in and out of an ``.npz`` file, checked before they are read.

``refopt.checkpoint`` decides what a state looks like; this module only moves arrays. A file
is a zip of ``.npy`` members, written uncompressed by ``numpy.savez``: ``__state__`` (the JSON
layout as uint8) and ``a0``, ``a1``, ... . Before any array is read, every member's ``.npy``
header is parsed with ``numpy.lib.format`` and its declared shape times item size must equal
the member's size in the zip directory, whose sizes together cannot exceed the file's: so a
header that declares 1e12 elements is refused without allocating them. Object and structured
dtypes are refused, and arrays are read with ``allow_pickle=False``.

Dtypes NumPy cannot save faithfully (ml_dtypes' bfloat16 and FP8: ``np.save`` writes them as
void) are stored as their raw bits, an unsigned integer array of the same item size, with the
dtype's name in the layout; ``ml_dtypes`` is imported only when such an array is met.
"""
from __future__ import annotations

import math
import struct
import zipfile
import zlib
from typing import Any, BinaryIO

import numpy as np
from array_api_compat import array_namespace, device, is_jax_array, is_torch_array
from numpy.lib import format as npy

from .backend import to_numpy

__all__ = ["CheckpointError", "NATIVE_DTYPES", "BIT_DTYPES", "to_host", "Members", "to_library"]

NATIVE_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                           "uint64", "float16", "float32", "float64", "complex64", "complex128"})
# name -> the unsigned integer dtype holding its bits; names are looked up here, never in ml_dtypes
BIT_DTYPES = {"bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8"}
_SIGNED = {"uint16": "int16", "uint8": "int8"}  # torch's .numpy() knows the signed views

# What a damaged zip makes zipfile and numpy raise; each becomes a CheckpointError.
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, struct.error, ValueError,
           NotImplementedError, RuntimeError, UnicodeDecodeError, OverflowError, KeyError, OSError)


class CheckpointError(ValueError):
    """A file that is not a checkpoint ``refopt.save_state`` wrote: corrupt, truncated, or
    naming a type that is not one of refopt's state classes. The message names the file."""


def _ml_dtype(name: str) -> np.dtype:
    import ml_dtypes  # only here: `import refopt` must not need it
    return np.dtype({"bfloat16": ml_dtypes.bfloat16, "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
                     "float8_e5m2": ml_dtypes.float8_e5m2}[name])


def to_host(x: Any, where: str) -> tuple[np.ndarray, str]:
    """A host NumPy array to store for ``x`` and the dtype name to record beside it."""
    if is_torch_array(x):
        name = str(x.dtype).removeprefix("torch.")
        if name in BIT_DTYPES:  # .numpy() refuses these: reinterpret the bits as a signed int
            import torch
            signed = torch.int16 if BIT_DTYPES[name] == "uint16" else torch.int8
            return x.detach().cpu().view(signed).numpy().view(BIT_DTYPES[name]), name
    if isinstance(x, np.generic) or is_jax_array(x):
        a = np.asarray(x)  # a NumPy scalar stays an array; JAX's bfloat16 cannot cross DLPack
    else:
        a = to_numpy(x)
    name = a.dtype.name
    if name in BIT_DTYPES and a.dtype.itemsize == np.dtype(BIT_DTYPES[name]).itemsize:
        return a.view(BIT_DTYPES[name]), name
    if name not in NATIVE_DTYPES or a.dtype.hasobject:
        raise TypeError(f"save_state: {where} has dtype {a.dtype}, which a checkpoint cannot hold")
    return a, name


def _read_header(f: BinaryIO) -> tuple[tuple, bool, np.dtype]:
    version = npy.read_magic(f)
    if version == (1, 0):
        return npy.read_array_header_1_0(f)
    if version == (2, 0):
        return npy.read_array_header_2_0(f)
    raise ValueError(f".npy format version {version} is not one numpy.savez writes here")


class Members:
    """The checked members of an open checkpoint: ``names()`` then ``read(name)``."""

    def __init__(self, path: str, fileobj: BinaryIO, file_size: int):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(fileobj)
            self.headers = self._check_directory(file_size)
        except CheckpointError:
            raise
        except _DAMAGE as err:
            raise self.error(f"not a readable .npz file ({type(err).__name__}: {err})") from None

    def error(self, what: str) -> CheckpointError:
        return CheckpointError(f"load_state: {self.path}: {what}")

    def _check_directory(self, file_size: int) -> dict[str, tuple[tuple, np.dtype]]:
        infos = self.zip.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise self.error("the zip directory lists a member twice")
        if sum(i.compress_size for i in infos) > file_size:
            raise self.error("the zip directory declares more bytes than the file holds")
        return {i.filename.removesuffix(".npy"): self._check_member(i) for i in infos}

    def _check_member(self, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
        name = info.filename
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise self.error(f"member {name} is compressed; save_state writes stored members only")
        with self.zip.open(info) as f:
            shape, _, dtype = _read_header(f)
            body = info.file_size - f.tell()
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise self.error(f"member {name} has dtype {dtype}: object and structured arrays are refused")
        if dtype.name not in NATIVE_DTYPES:
            raise self.error(f"member {name} has dtype {dtype}, not one a checkpoint holds")
        if math.prod(shape) * dtype.itemsize != body:
            raise self.error(f"member {name} declares shape {shape} of {dtype} "
                             f"({math.prod(shape) * dtype.itemsize} bytes) but holds {body} bytes")
        return tuple(shape), dtype

    def names(self) -> set[str]:
        return set(self.headers)

    def dtype(self, name: str) -> np.dtype:
        return self.headers[name][1]

    def read(self, name: str) -> np.ndarray:
        """The member's array (its size already checked), CRC included."""
        try:
            with self.zip.open(f"{name}.npy") as f:
                a = npy.read_array(f, allow_pickle=False)
                if f.read(1):
                    raise ValueError("data after the array")
        except _DAMAGE as err:
            raise self.error(f"member {name} is damaged ({type(err).__name__}: {err})") from None
        return a

    def close(self) -> None:
        self.zip.close()


def from_bits(a: np.ndarray, name: str) -> np.ndarray:
    """The stored array as the dtype its layout names (a view of the raw bits where needed)."""
    return a.view(_ml_dtype(name)) if name in BIT_DTYPES else a


def to_library(a: np.ndarray, name: str, like: Any) -> Any:
    """``a`` (host, dtype ``name``, raw bits for BIT_DTYPES) as an array of ``like``'s library
    and device, with the same dtype and bits; TypeError where that library cannot hold it."""
    if like is None:
        return from_bits(a, name)
    where = device(like)
    if is_torch_array(like):
        import torch
        if name in BIT_DTYPES:
            bits = torch.from_numpy(a.view(_SIGNED[BIT_DTYPES[name]]))
            kinds = {"bfloat16": torch.bfloat16, "float8_e4m3fn": torch.float8_e4m3fn,
                     "float8_e5m2": torch.float8_e5m2}  # a fixed table, not a lookup by name
            return bits.view(kinds[name]).to(where)
        out = torch.from_numpy(a).to(where)
    else:
        xp = array_namespace(like)
        out = xp.asarray(from_bits(a, name), device=where)
    got = str(out.dtype).removeprefix("torch.")
    if got != name:  # e.g. JAX without jax_enable_x64 turns float64 into float32
        hint = " (JAX needs jax_enable_x64 for 64-bit arrays)" if is_jax_array(like) else ""
        library = type(like).__module__.split(".")[0]
        raise TypeError(f"like= is a {library} array, and {library} gave dtype {got} for a {name} "
                        f"array{hint}")
    return out
