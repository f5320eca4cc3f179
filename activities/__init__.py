"""Activities: one module per external dependency."""
