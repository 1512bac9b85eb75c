"""Billing providers: verify and parse their webhooks into domain facts (Stripe; Chargebee later)."""
