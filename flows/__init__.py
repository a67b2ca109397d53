"""Prefect flows of vinops (issue 11, part 3). Thin: each flow calls plain functions of the ``vinops``
package (``vinops.pipeline.run_window``, ``vinops.rawstore``) and adds only what Prefect owns: retries,
concurrency, artifacts, the circuit breaker, the schedule.

* ``flows/copart_window.py:copart_window`` (flow ``copart-window``): fetch → ingest → completion of one
  window, a table artifact of its summary, a markdown artifact on failure, a circuit breaker that pauses the
  deployment after ``CIRCUIT_FAILURES`` consecutive failed windows.
* ``flows/raw_retention.py:raw_retention`` (flow ``raw-retention``): deletes raw files past their retention.

The deployments are in the repository's ``prefect.yaml``; ``vinops run`` runs one window through the same flow
locally (Prefect's ephemeral mode). Importing this package does not import prefect.
"""
