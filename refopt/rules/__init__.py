"""One optimizer per file. Each module defines its factory, its state and ``INFO``."""
