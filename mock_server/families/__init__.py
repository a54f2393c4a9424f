"""Model families: every model the emulator serves, described by data (see :mod:`.registry`)."""
from .registry import CAPABILITIES, ModelSpec, Registry, RegistryError, registry

__all__ = ["CAPABILITIES", "ModelSpec", "Registry", "RegistryError", "registry"]
