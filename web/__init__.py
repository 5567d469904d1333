"""canvascap's browser overlay and its server."""
