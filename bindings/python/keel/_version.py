# The package version; a test checks it equals the loaded library's version.
__version__ = "0.1.0"
