"""checkpoint-forensics: decode CRIU container checkpoints into a model an incident responder can trust."""

__version__ = "0.1.0"
