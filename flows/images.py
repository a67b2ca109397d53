"""Entrypoint of the ``lot-images`` and ``image-backfill`` deployments (prefect.yaml): the flows live in the
installed package."""

from vinops.flows.images import image_backfill, lot_images

__all__ = ["image_backfill", "lot_images"]
