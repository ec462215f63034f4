"""Asset-blocking notifications: subscriptions, customer watchlists, signed webhooks.

A subscriber (a reporting entity) registers webhook endpoints and uploads its customers;
when a designation is added or amended, the dispatcher finds the customers it concerns
and sends each subscriber a signed `blocking.required` (and `blocking.lifted` when the
designation is removed), durably, in order, at least once. Wiring: `app.setup`. How it
works and why nothing is lost: docs/webhooks.md.
"""
