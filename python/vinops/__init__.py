"""vinops: the ingest behind a car-auction history site (Copart sales-data feed → PostgreSQL)."""

from vinops._core import VinopsError, __version__

__all__ = ["VinopsError", "__version__"]
