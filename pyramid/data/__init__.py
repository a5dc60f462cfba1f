"""Data: the observation schema and its validation, file readers, the report's published
tables, the reconstructed RSW 2017 data set and the simulator."""

from pyramid.data import published, schema

__all__ = ["published", "schema"]
