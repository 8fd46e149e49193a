"""Keeping our schema declarations in step with a CRIU release, by reading CRIU's own descriptors.

`upstream` reads the protobuf descriptors pycriu ships (an installed pycriu run under chroot, a
directory of `*_pb2.py` files read without running them, or a serialized `FileDescriptorSet`) and
states them in our declaration vocabulary; `compare` lists every difference from the declarations in
`forensics/images/schema/*.py`; `rewrite` edits those files in place so that they agree, keeping
their comments and layout. `python -m forensics.images.schema.sync --help` runs it; docs/schema.md
says how to use it for a CRIU upgrade.
"""
