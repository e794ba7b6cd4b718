"""Errors in what the user gave (files, sizes, config values): reported as one clear line."""


class InputError(ValueError):
    """Bad input or configuration from the user; the command line prints it without a traceback."""
