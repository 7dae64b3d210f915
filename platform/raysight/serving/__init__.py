"""Ray Serve glue: the ingress deployment, the generic model deployment, build_app(args).

It implements the Predictor and Cluster ports (predictor.py, cluster.py; Ray's failures become domain
errors in predictor.py only) and reads the registry through the ModelCatalog port. Only the
composition roots app.py and ingress.py import beyond raysight.ports (raysight.runtime, the API).
"""
