"""Code shared by every Lambda; each Lambda asset ships this package next to its own."""
