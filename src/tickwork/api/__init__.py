"""The REST API adapter: ``create_app(ctx)`` builds it; ``tickwork.api.server`` serves it."""
