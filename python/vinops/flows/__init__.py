"""Prefect flows of vinops (issue 11, part 3). Thin: each flow calls plain functions of the ``vinops``
package (``vinops.pipeline.run_window``, ``vinops.rawstore``) and adds only what Prefect owns: retries,
concurrency, artifacts, the circuit breaker, the schedule.

* :mod:`vinops.flows.copart_window` (flow ``copart-window``): fetch → ingest → completion of one
  window, a table artifact of its summary, a markdown artifact on failure, a circuit breaker that pauses the
  deployment after ``CIRCUIT_FAILURES`` consecutive failed windows.
* :mod:`vinops.flows.raw_retention` (flow ``raw-retention``): deletes raw files past their retention.
* :mod:`vinops.flows.images` (flows ``lot-images`` and ``image-backfill``): lot photos through
  ``vinops.images``, every request under the deployment-wide rate limit ``vinops-photos`` (a Prefect global
  concurrency limit with slot decay), progress and summary artifacts.

They live in the package so an installed wheel has them (``vinops run``, a worker's image); the repository's
top-level ``flows/`` holds the deployments' entrypoints (``flows/copart_window.py:copart_window``), which only
import them. The deployments are in the repository's ``prefect.yaml``; ``vinops run`` runs one window through the same flow
locally (Prefect's ephemeral mode). Importing this package does not import prefect.
"""
