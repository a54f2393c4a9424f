"""The HTTP edge: thin Starlette routes over the emulator core."""
