"""Pure domain: billing state, risk, segments, CRM field values.

Standard library only. Time (`now`, `today`) and policy come in as arguments.
"""
