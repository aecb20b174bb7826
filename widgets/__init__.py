"""Textual widgets of the tokscope TUI (each with its DEFAULT_CSS; no IO here)."""
