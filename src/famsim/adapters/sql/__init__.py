"""Storage in SQL with SQLAlchemy 2 Core: SQLite by default, PostgreSQL in production."""
