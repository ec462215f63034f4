"""Asset-blocking notifications (subscriptions, watchlists, signed webhooks).

Reserved for the notification dispatcher; nothing lives here yet.
"""
