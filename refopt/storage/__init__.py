"""Same math, different storage: optimizer state kept quantized (and, in ``paged``, out of core).

``quantized(opt, maps=...)`` runs a rule's own step over block-quantized buffers: the dynamic
tree maps (8- and 4-bit), a linear 4-bit map and FP8 E4M3 (``maps``, ``blockwise``). Nothing
here imports dask or zarr: ``import refopt.storage`` needs only refopt's own dependencies.
"""
from .blockwise import SCHEMES, Scheme, dequantize, quantize
from .quantized import is_quantized_leaf, quantized

__all__ = ["quantized", "is_quantized_leaf", "Scheme", "SCHEMES", "quantize", "dequantize"]
