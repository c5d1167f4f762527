"""The web dashboard: server-rendered pages over the same use cases as the REST API, served
beside it at ``/`` (``create_app`` in ``tickwork.dashboard.app``)."""
