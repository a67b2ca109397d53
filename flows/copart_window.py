"""Entrypoint of the ``copart-window`` deployment (prefect.yaml): the flow lives in the installed package."""

from vinops.flows.copart_window import copart_window

__all__ = ["copart_window"]
