"""The exceptions segmenta raises. Each carries the library's one-line message:
the same text the command line prints, naming the file, column or parameter and
the rule it broke."""


class SegmentaError(Exception):
    """Base class of every segmenta error."""


class InputError(SegmentaError, ValueError):
    """The data breaks a rule: a column is missing, not numeric, not finite,
    incomplete; a table is empty or unreadable."""


class ParameterError(SegmentaError, ValueError):
    """A parameter breaks its rule (``k cannot be 0``)."""


class ModelError(SegmentaError, ValueError):
    """A model or previous run is unreadable or does not fit the input."""


class SourceNotFoundError(InputError, FileNotFoundError):
    """An input file or folder does not exist."""


class FileError(SegmentaError, OSError):
    """The operating system refused to read or write a file."""


class GpuError(SegmentaError, RuntimeError):
    """No GPU adapter (``backend="gpu"``), or the GPU failed while working."""


class SegmentaWarning(UserWarning):
    """Something the user should know; the result is still right."""


__all__ = [
    "SegmentaError",
    "InputError",
    "ParameterError",
    "ModelError",
    "SourceNotFoundError",
    "FileError",
    "GpuError",
    "SegmentaWarning",
]
