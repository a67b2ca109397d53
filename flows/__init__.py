"""The deployments' entrypoints (prefect.yaml): each module imports its flow from :mod:`vinops.flows`."""
