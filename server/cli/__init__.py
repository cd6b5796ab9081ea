"""The ``simpletrust`` command line."""
