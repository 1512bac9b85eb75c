"""dunning-connector: billing payment state onto CRM records, and playbooks for account managers."""
