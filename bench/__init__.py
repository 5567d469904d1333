"""Benchmarks of canvascap: latency, accuracy and cost, measured on real speech."""
