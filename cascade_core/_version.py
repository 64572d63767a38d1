"""The release of cascade-core."""

__version__ = "0.1.0"
