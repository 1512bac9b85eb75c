"""Storage: SQLModel tables, the engine, migrations and the few queries that use them."""
