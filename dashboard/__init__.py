"""The operator's dashboard. It reads only the HTTP API, through ``loadsense.api.client``
and the records of ``loadsense.api.models``; it never opens storage."""
