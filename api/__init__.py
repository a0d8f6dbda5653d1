"""The HTTP edge: FastAPI app, routes, auth, the ``loadsense`` command line and client."""
