"""Notification preferences: which optional emails each user receives, and one-click unsubscribe links."""
