"""Scripts that measure orbitmesh; each prints readable lines, then one JSON line."""
