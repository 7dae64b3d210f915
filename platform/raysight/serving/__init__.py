"""Ray Serve glue: the ingress deployment, the generic model deployment, build_app(args)."""
