"""Preset pipeline configurations (YAML) shipped with canvascap."""
