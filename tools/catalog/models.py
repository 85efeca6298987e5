"""Catalog schema. Changes go through Alembic migrations (``tools/catalog/migrations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from memory.tables import ID_LEN as ID_LEN  # re-exported: the catalog uses it too
from memory.tables import user_profiles


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    item_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    # lower-cased, punctuation-stripped, leading article moved ("matrix the" -> "matrix"):
    # what lookups compare against (see tools.catalog.text.normalize_title)
    title_norm: Mapped[str] = mapped_column(String(512), index=True)
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    popularity: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    rating_avg: Mapped[float | None] = mapped_column(Float, index=True)
    rating_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class ItemCategory(Base):
    __tablename__ = "item_categories"

    item_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("items.item_id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_item_categories_category_item", "category_id", "item_id"),)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)


class ItemTag(Base):
    __tablename__ = "item_tags"

    item_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("items.item_id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )
    count: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_item_tags_tag_item", "tag_id", "item_id"),)


class Interaction(Base):
    __tablename__ = "interactions"

    user_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    item_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("items.item_id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[float | None] = mapped_column(Float)
    ts: Mapped[int | None] = mapped_column(BigInteger)  # unix seconds

    __table_args__ = (Index("ix_interactions_item", "item_id"),)


class UserProfile(Base):
    """Long-term, per-user profile (likes, dislikes, expectations) as JSON. Declared by its
    owner, :mod:`memory.tables` (``memory.profiles`` reads and writes it); mapped here so the
    catalog's metadata (Alembic) holds every table of the database."""

    __table__ = user_profiles.to_metadata(Base.metadata)

    user_id: Mapped[str]
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
