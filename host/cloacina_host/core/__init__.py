"""The native core: the only code that maps a plugin library.

``ffi`` (cffi: header, dlopen, calls) and ``descriptor`` read a library; ``loader`` validates
it; ``graph`` and ``registry`` are pure; ``executor``, ``accumulator`` and ``reactor`` run
graphs across the FFI; ``runtime``, ``replace`` and ``records`` manage one tenant's
packages; ``host`` holds every tenant of one process."""
