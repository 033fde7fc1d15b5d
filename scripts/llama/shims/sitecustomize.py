# Debian's python3-torch (1.13) predates the float8 and uint16/32/64 dtypes that llama.cpp's
# converter names in its type tables: stand-ins that compare unequal to every real dtype, so the
# tables build. A checkpoint that really holds such a dtype still fails (torch cannot read it).
try:
    import torch

    class _MissingDtype:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return "torch." + self.name

    for _name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                  "uint16", "uint32", "uint64"):
        if not hasattr(torch, _name):
            setattr(torch, _name, _MissingDtype(_name))
except ImportError:
    pass
