"""archiver: an evidence-grade archive of public statements and posts."""

__version__ = "0.1.0"
