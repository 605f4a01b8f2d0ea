"""Signal core: numba kernels (``_kernels``) and the thin classes around them."""
