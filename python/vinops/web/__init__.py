"""``vinops serve``: the HTTP service of metrics and health (:mod:`vinops.web.server`) and its health page
(:mod:`vinops.web.page`)."""

from vinops.web.server import App, make_server

__all__ = ["App", "make_server"]
