"""HTTP routes, one module per concern; :mod:`api.app` includes them all."""
