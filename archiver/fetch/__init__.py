"""The fetch layer: polite, bounded HTTP that turns a Request into an Exchange the archive can prove.
It never parses posts and never writes the database."""

from archiver.fetch.fetcher import Fetcher

__all__ = ["Fetcher"]
