"""HTTP routes, one module per concern; :mod:`loadsense.api.app` includes them all."""
