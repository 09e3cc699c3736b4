"""The original design's models.py (SQLAlchemy + GeoAlchemy2) for search_server_original.py,
as the seed benchmark adapted it (/work/shared/bench/seed-baseline/models.py).

Deviations from the 2016 post, all deliberate:
  * DSN from $SEARCH_DSN (the post hard-coded postgresql://user:password@localhost:5434/test).
  * explicit postgresql+psycopg2 driver (SQLAlchemy 2.1 defaults to psycopg 3).
  * declarative_base from sqlalchemy.orm (sqlalchemy.ext.declarative is gone in 2.x).
  * Geometry('MULTIPOLYGON') instead of 'POLYGON', to match the table; DDL/bind typing only.
  * `session` is a scoped_session (one Session per worker thread): the post shared one
    Session across the server's threads, which is not thread-safe.
"""
import os

from geoalchemy2 import Geometry
from sqlalchemy import Column, Integer, String, create_engine, func  # noqa: F401  (func re-exported)
from sqlalchemy.orm import declarative_base, scoped_session, sessionmaker

_dsn = os.environ.get("SEARCH_DSN", "postgresql://user:password@127.0.0.1:5434/test")
engine = create_engine(_dsn.replace("postgresql://", "postgresql+psycopg2://", 1))
Base = declarative_base()


class Thing(Base):
    __tablename__ = "thing"
    id = Column(Integer, primary_key=True)
    name = Column(String)
    geom = Column(Geometry("MULTIPOLYGON"))


Session = sessionmaker(bind=engine)
session = scoped_session(Session)
