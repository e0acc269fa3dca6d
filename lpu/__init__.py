"""lpu-tile: an open, verifiable, scaled-down LPU tile."""
