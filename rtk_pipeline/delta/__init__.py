"""Delta Lake backend primitives."""
