"""Whole-system journeys through the real ``connector`` command and server: the one folder
that does not mirror a package of ``connector/``."""
