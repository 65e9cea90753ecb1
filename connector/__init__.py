"""connector: a data-space connector and catalog service for an AI Factory."""

__version__ = "0.1.0"
