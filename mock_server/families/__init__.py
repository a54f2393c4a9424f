"""Model families: every model the emulator serves, described by data (see :mod:`.registry`)."""
from .registry import CAPABILITIES, Durations, ModelSpec, Registry, RegistryError, registry

__all__ = ["CAPABILITIES", "Durations", "ModelSpec", "Registry", "RegistryError", "registry"]
