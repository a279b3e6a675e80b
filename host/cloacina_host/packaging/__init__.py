"""Packages: the manifest, the ``.cloacina`` archive (read as untrusted input), a project's
identity, building with cargo or CMake, reading ELF symbols, and the child-process check of
an untrusted library (``probe``) that packing and uploads run before anything loads it."""
