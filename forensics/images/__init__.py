"""Decoding of CRIU image files: framing, schemas, EXTRA payloads, and crit-compatible JSON.

Entry points: `forensics.images.decode.open_image` (one file) and `list_images` (a directory).
"""
