"""The emulator core: records, pure transitions and the service, the one entry point to the store."""
