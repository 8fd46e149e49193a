"""One renderer per output format, all over the same model."""
