"""Entrypoint of the ``raw-retention`` deployment (prefect.yaml): the flow lives in the installed package."""

from vinops.flows.raw_retention import raw_retention

__all__ = ["raw_retention"]
