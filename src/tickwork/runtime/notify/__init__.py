"""Delivering alert notifications: each channel's message, the webhook signature, the senders."""

from tickwork.runtime.notify.senders import DeliveryError, Notifier
from tickwork.runtime.notify.signing import SIGNATURE_HEADER, verify_signature

__all__ = ["SIGNATURE_HEADER", "DeliveryError", "Notifier", "verify_signature"]
