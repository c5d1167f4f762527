"""The REST API's own request and response models, by area, and their builders.

Routes define no model. The shapes the API shares with the CLI (a queued job, a run, a
processor, a user, a token, an audit entry) are ``tickwork.wire``'s, returned as they are.
"""
