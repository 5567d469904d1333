"""canvascap's stages. Empty on purpose: each stage imports its heavy library itself."""
