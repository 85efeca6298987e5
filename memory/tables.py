"""The table memory/ keeps in the SQL database: the long-term user profiles.

Declared here, by the package that reads and writes it (:mod:`memory.profiles`), so memory/
imports nothing of tools/. The catalog's schema (:mod:`tools.catalog.models`) adopts it into
its metadata, so Alembic sees one schema; the migrations create it with the catalog's tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, func

ID_LEN = 64
"""The longest user or item id any table stores."""

metadata = MetaData()

user_profiles = Table(
    "user_profiles",
    metadata,
    Column("user_id", String(ID_LEN), primary_key=True),
    Column("data", JSON, default=dict, nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(),
           onupdate=func.now(), nullable=False),
)
"""Long-term, per-user profile (likes, dislikes, expectations) as JSON."""
