"""Where captions go: the terminal, transcript files, and live platforms (Zoom, YouTube,
OBS stream captions)."""
