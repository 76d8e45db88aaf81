"""Thin asyncio adapters over the sans-I/O protocol cores."""
