"""Embedded CRM card tests (a package, so its conftest is not the bare module `conftest`)."""
