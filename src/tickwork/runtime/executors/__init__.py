"""Executors: run one attempt of a Python, HTTP or shell task and report an Outcome.

Import the submodules (``python``, ``shell``, ``http``, ``output``) directly: this package does
not import them, so that a worker loads httpx only when it runs an HTTP job.
"""
