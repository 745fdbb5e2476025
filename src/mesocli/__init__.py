"""mesocli: find faces in videos and tell whether they were tampered with (MesoNet)."""

__version__ = "0.1.0"
