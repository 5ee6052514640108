"""Helpers every test area shares: clients for the emulator, ground truth, processes and the CLI.

Imported as `tests.support.<module>` (pytest puts the project root on sys.path, see `pythonpath` in
pyproject.toml); fixtures stay in the conftest files, built from these.
"""
