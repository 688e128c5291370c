"""Benchmarks run by ``make bench``: each module ``bench/<area>.py`` has ``main() -> int``."""
