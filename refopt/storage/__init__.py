"""Same math, different storage: optimizer state kept quantized (and, in ``paged``, out of core).

``quantized(opt, maps=...)`` runs a rule's own step over block-quantized buffers: the dynamic
tree maps (8- and 4-bit), a linear 4-bit map and FP8 E4M3 (``maps``, ``blockwise``).
``paged.create``/``paged.step`` keep params and state in chunked Zarr stores stepped by Dask, one
chunk at a time. Nothing here imports dask or zarr until used: ``import refopt.storage`` needs
only refopt's own dependencies.
"""
from .blockwise import SCHEMES, Scheme, dequantize, quantize
from . import paged  # noqa: F401 (imports neither dask nor zarr until used)
from .quantized import is_quantized_leaf, quantized

__all__ = ["quantized", "is_quantized_leaf", "Scheme", "SCHEMES", "quantize", "dequantize", "paged"]
